package persistence

// BroadcastKey is the key of a broadcast record:
//
//	broadcast/<id>
//
// Broadcast ids follow the same rule as room ids (ValidID).
func BroadcastKey(id string) []byte { return []byte("broadcast/" + id) }

// BroadcastPrefix is the prefix under which every broadcast record lives.
func BroadcastPrefix() []byte { return []byte("broadcast/") }
