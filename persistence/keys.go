package persistence

import (
	"encoding/binary"
	"strings"
)

// Keys are namespaced so that a prefix scan lists one room's records:
//
//	room/<id>              room record
//	chat/<room>/<seq:8 BE> chat message, seq big-endian so keys sort by seq
//	file/<room>/<file id>  uploaded file metadata
//	meta/<name>            server-wide values (e.g. the token secret)
//	entry/<room>/<member>  what a visitor gave in the room's entry form
//	agent/<id>             agent account
//	agentsession/<agent>/<sha256 hex>  agent login session
//	agentroom/<agent>/<room>           a room in the agent's list
//	offline/<agent>/<hex ms>-<id>      offline-form message for the agent
//	agentpres/<agent>/v/<visitor>      a visitor page the agent grain tracks
//	agentpres/<agent>/p/<socket>       an open agent page
//	visitorsess/<key>      a visitor session (pages, requests) across page loads
//	fence/<kind>/<id>      the activation generation of a grain (fence.go)
//	apikey/<sha256 hex>    API key
//	short/<name>           short name of a room
//	wb/<room>/...          the room's whiteboard (see wbkeys.go)
//
// Room, agent and short-name ids never contain '/', which keeps the prefixes
// unambiguous.

// RoomKey is the key of a room record.
func RoomKey(roomID string) []byte { return []byte("room/" + roomID) }

// RoomPrefix is the prefix under which every room record lives.
func RoomPrefix() []byte { return []byte("room/") }

// ChatPrefix is the prefix under which a room's chat messages live.
func ChatPrefix(roomID string) []byte { return []byte("chat/" + roomID + "/") }

// ChatKey is the key of one chat message.
func ChatKey(roomID string, seq uint64) []byte {
	p := ChatPrefix(roomID)
	k := make([]byte, len(p)+8)
	copy(k, p)
	binary.BigEndian.PutUint64(k[len(p):], seq)
	return k
}

// ChatSeq returns the sequence number encoded in a chat key.
func ChatSeq(key []byte) uint64 {
	if len(key) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(key[len(key)-8:])
}

// FileKey is the key of an uploaded file's metadata.
func FileKey(roomID, fileID string) []byte { return []byte("file/" + roomID + "/" + fileID) }

// MetaKey is the key of a server-wide value.
func MetaKey(name string) []byte { return []byte("meta/" + name) }

// PrefixEnd returns the smallest key greater than every key with prefix p.
func PrefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// ValidID reports whether s may be used as a room or file id: 1-64 characters
// of letters, digits, '-' and '_'.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) < 0
}
