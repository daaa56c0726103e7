// Package audit keeps the log of changes made by admins and agents in the
// store, so every node writes to and reads from the same log.
package audit

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"liveroom/persistence"
	"liveroom/proto/pb"
)

// Write stores one record; at is filled in when zero.
func Write(s persistence.Store, r *pb.AuditRecord) error {
	if r.AtMs == 0 {
		r.AtMs = time.Now().UnixMilli()
	}
	raw, err := proto.Marshal(r)
	if err != nil {
		return err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return s.Set(persistence.AuditKey(r.AtMs, hex.EncodeToString(b)), raw)
}

// Query selects records: Text matches any field (case-insensitive), From
// and To bound the time (ms, 0 for open), Before continues a newest-first
// listing after the key given by an earlier page.
type Query struct {
	Text      string
	FromMs    int64
	ToMs      int64
	Before    string
	Limit     int
	MaxScan   int
	Ascending bool
}

// Matches reports whether r fits the query's text and time.
func (q Query) Matches(r *pb.AuditRecord) bool {
	if q.FromMs != 0 && r.AtMs < q.FromMs || q.ToMs != 0 && r.AtMs >= q.ToMs {
		return false
	}
	if q.Text == "" {
		return true
	}
	t := strings.ToLower(q.Text)
	for _, f := range []string{r.Actor, r.Role, r.Action, r.Target, r.Detail, r.Ip} {
		if strings.Contains(strings.ToLower(f), t) {
			return true
		}
	}
	return false
}

// List visits matching records newest first (oldest first with Ascending),
// at most Limit of them and reading at most MaxScan; next is the cursor of
// the following page, "" at the end.
func List(s persistence.Store, q Query, fn func(key string, r *pb.AuditRecord) bool) (next string, err error) {
	start, end := persistence.AuditPrefix(), persistence.PrefixEnd(persistence.AuditPrefix())
	if q.Before != "" {
		if q.Ascending {
			start = append([]byte(q.Before), 0)
		} else {
			end = []byte(q.Before)
		}
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	if q.MaxScan <= 0 {
		q.MaxScan = 10000
	}
	n, scanned := 0, 0
	var derr error
	last := ""
	err = s.Scan(start, end, !q.Ascending, 0, func(k, v []byte) bool {
		scanned++
		last = string(k)
		r := &pb.AuditRecord{}
		if derr = proto.Unmarshal(v, r); derr != nil {
			return false
		}
		if q.Matches(r) {
			n++
			if !fn(last, r) {
				return false
			}
		}
		return n < q.Limit && scanned < q.MaxScan
	})
	if err == nil {
		err = derr
	}
	if n >= q.Limit || scanned >= q.MaxScan {
		next = last
	}
	return next, err
}
