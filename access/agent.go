package access

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// AgentCookie is the name of the agent login cookie. Its value is
// "<agent id>.<token>": the id routes the check to the agent's grain, which
// stores only the token's SHA-256.
const AgentCookie = "liveroom_agent"

// NewSecretToken returns n random bytes in URL-safe base64.
func NewSecretToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return enc.EncodeToString(b)
}

// Hash is the SHA-256 of a secret token, as stored.
func Hash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// MatchesHash reports, in constant time, whether token's SHA-256 is hash.
// An empty token never matches.
func MatchesHash(token string, hash []byte) bool {
	return token != "" && subtle.ConstantTimeCompare(Hash(token), hash) == 1
}

// HashHex is Hash in lower-case hex, for store keys.
func HashHex(token string) string { return hex.EncodeToString(Hash(token)) }

// AgentCookieValue joins an agent id and its login token.
func AgentCookieValue(agentID, token string) string { return agentID + "." + token }

// ParseAgentCookie splits a cookie value into agent id and the token's hash.
// It checks shape only; whether the session exists is the agent grain's call.
func ParseAgentCookie(v string) (agentID string, tokenHash []byte, ok bool) {
	if len(v) > 200 {
		return "", nil, false
	}
	id, token, found := strings.Cut(v, ".")
	if !found || !validID(id) || len(token) < 20 || strings.ContainsRune(token, '.') {
		return "", nil, false
	}
	if _, err := base64.RawURLEncoding.DecodeString(token); err != nil {
		return "", nil, false
	}
	return id, Hash(token), true
}

// APIKeyPrefix starts every API key, so a leaked one is easy to recognise
// (and to search for in code).
const APIKeyPrefix = "lrk_"

// NewAPIKey returns a fresh API key.
func NewAPIKey() string { return APIKeyPrefix + NewSecretToken(32) }

// ParseBearer returns the token of an "Authorization: Bearer <token>" header.
func ParseBearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > 512 {
		return "", false
	}
	return token, true
}

// validID mirrors persistence.ValidID; access imports nothing of ours.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) < 0
}
