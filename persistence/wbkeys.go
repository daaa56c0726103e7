package persistence

import "encoding/binary"

// Whiteboard keys (one board per room):
//
//	wb/<room>/op/<seq:8 BE>  one board operation, seq big-endian so keys sort by seq
//	wb/<room>/snap           the board as of some op seq (WbBoard)
//	wb/<room>/img/<id>       an image placed on the board (WbImage)

// WbPrefix is the prefix of everything a room's whiteboard stores.
func WbPrefix(roomID string) []byte { return []byte("wb/" + roomID + "/") }

// WbOpPrefix is the prefix under which a board's operations live.
func WbOpPrefix(roomID string) []byte { return []byte("wb/" + roomID + "/op/") }

// WbOpKey is the key of one board operation.
func WbOpKey(roomID string, seq uint64) []byte {
	p := WbOpPrefix(roomID)
	k := make([]byte, len(p)+8)
	copy(k, p)
	binary.BigEndian.PutUint64(k[len(p):], seq)
	return k
}

// WbSnapKey is the key of a board's latest snapshot.
func WbSnapKey(roomID string) []byte { return []byte("wb/" + roomID + "/snap") }

// WbImageKey is the key of a board image's metadata.
func WbImageKey(roomID, imageID string) []byte { return []byte("wb/" + roomID + "/img/" + imageID) }
