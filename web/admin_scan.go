package web

import (
	"bytes"
	"encoding/base64"

	"google.golang.org/protobuf/proto"

	"liveroom/persistence"
)

// scanChunk is how many records one store scan reads before they are
// handled: an export writes to a slow client between chunks, never while
// holding a store iterator open.
const scanChunk = 256

// walk visits the records under prefix after the key `after` (nil: from the
// start) in key order, in chunks, until fn returns false or maxScan records
// were read. It returns the last key read when it stopped early (the cursor
// of the next page), nil when it reached the end.
func walk(s persistence.Store, prefix, after []byte, maxScan int, fn func(k, v []byte) bool) ([]byte, error) {
	start := prefix
	if len(after) > 0 {
		if !bytes.HasPrefix(after, prefix) {
			return nil, nil
		}
		start = append(append([]byte(nil), after...), 0)
	}
	end := persistence.PrefixEnd(prefix)
	read := 0
	for {
		type kv struct{ k, v []byte }
		var chunk []kv
		err := s.Scan(start, end, false, scanChunk, func(k, v []byte) bool {
			chunk = append(chunk, kv{append([]byte(nil), k...), append([]byte(nil), v...)})
			return true
		})
		if err != nil {
			return nil, err
		}
		for _, e := range chunk {
			read++
			if !fn(e.k, e.v) || (maxScan > 0 && read >= maxScan) {
				return e.k, nil
			}
		}
		if len(chunk) < scanChunk {
			return nil, nil
		}
		start = append(chunk[len(chunk)-1].k, 0)
	}
}

// page collects up to limit records under prefix that keep accepts, reading
// at most maxScan; next is the opaque cursor of the following page ("" at
// the end).
func page[T proto.Message](s persistence.Store, prefix []byte, cursor string, limit, maxScan int,
	mk func() T, keep func(k []byte, rec T) bool) (out []T, next string, err error) {
	after, _ := base64.RawURLEncoding.DecodeString(cursor)
	var derr error
	last, err := walk(s, prefix, after, maxScan, func(k, v []byte) bool {
		rec := mk()
		if derr = proto.Unmarshal(v, rec); derr != nil {
			return false
		}
		if keep(k, rec) {
			out = append(out, rec)
		}
		return len(out) < limit
	})
	if err == nil {
		err = derr
	}
	if last != nil {
		next = base64.RawURLEncoding.EncodeToString(last)
	}
	return out, next, err
}
