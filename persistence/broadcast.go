package persistence

import "encoding/binary"

// BroadcastKey is the key of a broadcast record:
//
//	broadcast/<id>
//	bchat/<id>/<seq:8 BE>   chat message of the broadcast
//	agentbroadcast/<agent>/<id>   a broadcast in its owner's list
//
// Broadcast ids follow the same rule as room ids (ValidID).
func BroadcastKey(id string) []byte { return []byte("broadcast/" + id) }

// BroadcastPrefix is the prefix under which every broadcast record lives.
func BroadcastPrefix() []byte { return []byte("broadcast/") }

// BroadcastChatPrefix is the prefix under which a broadcast's chat lives.
func BroadcastChatPrefix(id string) []byte { return []byte("bchat/" + id + "/") }

// BroadcastChatKey is the key of one broadcast chat message; ChatSeq reads
// its seq back.
func BroadcastChatKey(id string, seq uint64) []byte {
	p := BroadcastChatPrefix(id)
	k := make([]byte, len(p)+8)
	copy(k, p)
	binary.BigEndian.PutUint64(k[len(p):], seq)
	return k
}

// AgentBroadcastPrefix is the prefix of an agent's list of broadcasts.
func AgentBroadcastPrefix(agentID string) []byte { return []byte("agentbroadcast/" + agentID + "/") }

// AgentBroadcastKey marks broadcast id as agentID's.
func AgentBroadcastKey(agentID, id string) []byte {
	return append(AgentBroadcastPrefix(agentID), id...)
}
