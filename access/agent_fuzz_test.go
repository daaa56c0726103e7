package access

import (
	"bytes"
	"strings"
	"testing"
)

func TestAgentCookieRoundTrip(t *testing.T) {
	token := NewSecretToken(32)
	id, hash, ok := ParseAgentCookie(AgentCookieValue("alice", token))
	if !ok || id != "alice" || !bytes.Equal(hash, Hash(token)) {
		t.Fatalf("parse = %q %x %v", id, hash, ok)
	}
	for _, bad := range []string{"", "alice", "alice.", ".token-token-token-token", "al/ice." + token,
		"alice." + token + ".x", "alice.short", "alice." + strings.Repeat("a", 300), "alice." + token[:20] + "!!"} {
		if _, _, ok := ParseAgentCookie(bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
	if k, ok := ParseBearer("Bearer " + NewAPIKey()); !ok || !strings.HasPrefix(k, APIKeyPrefix) {
		t.Fatalf("bearer: %q %v", k, ok)
	}
	for _, bad := range []string{"", "Bearer", "Bearer ", "Basic abc", "bearer" + "x", "Bearer " + strings.Repeat("k", 600)} {
		if _, ok := ParseBearer(bad); ok {
			t.Errorf("bearer accepted %q", bad)
		}
	}
}

// FuzzParseAgentCookie: the cookie comes from the browser as is. Whatever is
// accepted must have a valid agent id and hash exactly the token part.
func FuzzParseAgentCookie(f *testing.F) {
	for _, s := range []string{AgentCookieValue("alice", NewSecretToken(32)), "", ".", "a.b", "x." + strings.Repeat("A", 43),
		"\xff.\xfe", "alice.." + NewSecretToken(32), "ü." + NewSecretToken(32)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		id, hash, ok := ParseAgentCookie(v)
		if !ok {
			return
		}
		token := strings.TrimPrefix(v, id+".")
		if !validID(id) || len(hash) != 32 || !bytes.Equal(hash, Hash(token)) || AgentCookieValue(id, token) != v {
			t.Fatalf("%q parsed as %q %x", v, id, hash)
		}
	})
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer lrk_abc", "bearer x", "Basic x", "Bearer  spaced ", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := ParseBearer(h)
		if ok && (tok == "" || len(tok) > 512 || strings.TrimSpace(tok) != tok || !strings.Contains(h, tok)) {
			t.Fatalf("%q gave %q", h, tok)
		}
	})
}
