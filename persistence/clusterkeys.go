package persistence

// MemberPrefix is the prefix of a room's stored members.
func MemberPrefix(roomID string) []byte { return []byte("member/" + roomID + "/") }

// MemberKey is the key of one stored room member:
//
//	member/<room>/<member id>  who is in the room, and where their socket is
func MemberKey(roomID, memberID string) []byte { return []byte("member/" + roomID + "/" + memberID) }
