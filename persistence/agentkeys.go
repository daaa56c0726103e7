package persistence

// EntryPrefix is the prefix of a room's entry-form records.
func EntryPrefix(roomID string) []byte { return []byte("entry/" + roomID + "/") }

// EntryKey is the key of one visitor's entry-form record.
func EntryKey(roomID, memberID string) []byte { return []byte("entry/" + roomID + "/" + memberID) }

// FilePrefix is the prefix of a room's uploaded-file metadata.
func FilePrefix(roomID string) []byte { return []byte("file/" + roomID + "/") }

// AgentKey is the key of an agent account.
func AgentKey(agentID string) []byte { return []byte("agent/" + agentID) }

// AgentPrefix is the prefix under which every agent account lives.
func AgentPrefix() []byte { return []byte("agent/") }

// AgentSessionPrefix is the prefix of an agent's login sessions.
func AgentSessionPrefix(agentID string) []byte { return []byte("agentsession/" + agentID + "/") }

// AgentSessionKey is the key of one login session, by the token's hash in hex.
func AgentSessionKey(agentID, hashHex string) []byte {
	return []byte("agentsession/" + agentID + "/" + hashHex)
}

// AgentRoomPrefix is the prefix of an agent's room list.
func AgentRoomPrefix(agentID string) []byte { return []byte("agentroom/" + agentID + "/") }

// AgentRoomKey is the key of one room in an agent's list.
func AgentRoomKey(agentID, roomID string) []byte {
	return []byte("agentroom/" + agentID + "/" + roomID)
}

// OfflinePrefix is the prefix of an agent's offline-form messages.
func OfflinePrefix(agentID string) []byte { return []byte("offline/" + agentID + "/") }

// OfflineKey is the key of one offline message; ids start with the arrival
// time in fixed-width hex, so keys sort in arrival order.
func OfflineKey(agentID, id string) []byte { return []byte("offline/" + agentID + "/" + id) }

// APIKeyKey is the key of an API key record, by the key's hash in hex.
func APIKeyKey(hashHex string) []byte { return []byte("apikey/" + hashHex) }

// APIKeyPrefix is the prefix under which every API key lives.
func APIKeyPrefix() []byte { return []byte("apikey/") }

// ShortKey is the key of a short name.
func ShortKey(name string) []byte { return []byte("short/" + name) }

// AgentPresencePrefix is the prefix of what an agent grain tracks live (the
// visitor pages and agent pages open now), kept so that an activation on
// another node carries on with it.
func AgentPresencePrefix(agentID string) []byte { return []byte("agentpres/" + agentID + "/") }

// AgentPresenceVisitorKey is the key of one visitor page an agent tracks.
func AgentPresenceVisitorKey(agentID, visitorID string) []byte {
	return []byte("agentpres/" + agentID + "/v/" + visitorID)
}

// AgentPresencePageKey is the key of one open agent page, by its socket.
func AgentPresencePageKey(agentID, socket string) []byte {
	return []byte("agentpres/" + agentID + "/p/" + socket)
}

// VisitorSessionKey is the key of a visitor session (visitor session grain).
func VisitorSessionKey(key string) []byte { return []byte("visitorsess/" + key) }
