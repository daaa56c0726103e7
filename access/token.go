// Package access issues and verifies the signed tokens that let a room member
// use the room's HTTP endpoints (file upload and download). Any node holding the
// same secret can verify a token without asking the room actor.
package access

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Claims is what a token vouches for.
type Claims struct {
	Room     string `json:"r"`
	MemberID string `json:"m"`
	Name     string `json:"n"`
	Role     int32  `json:"o"`
	// Generation is the room's incarnation (RoomRecord.generation); the
	// room grain also checks that MemberID is still a member.
	Generation string `json:"g,omitempty"`
	Expires    int64  `json:"e"` // unix seconds
}

// ErrInvalid covers every way a token can be wrong; callers do not need more.
var ErrInvalid = errors.New("access: invalid or expired token")

// Signer signs and checks tokens with one secret.
type Signer struct {
	key []byte
	now func() time.Time
}

// NewSigner returns a signer for secret (at least 16 bytes).
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < 16 {
		return nil, errors.New("access: secret must be at least 16 bytes")
	}
	return &Signer{key: append([]byte(nil), secret...), now: time.Now}, nil
}

var enc = base64.RawURLEncoding

func (s *Signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Issue returns a token for c valid for ttl.
func (s *Signer) Issue(c Claims, ttl time.Duration) string {
	c.Expires = s.now().Add(ttl).Unix()
	raw, _ := json.Marshal(c) // plain struct of strings and ints: cannot fail
	payload := enc.EncodeToString(raw)
	return payload + "." + enc.EncodeToString(s.mac(payload))
}

// Verify checks the signature and expiry of token.
func (s *Signer) Verify(token string) (Claims, error) {
	var c Claims
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 4096 {
		return c, ErrInvalid
	}
	got, err := enc.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(payload)) {
		return c, ErrInvalid
	}
	raw, err := enc.DecodeString(payload)
	if err != nil || json.Unmarshal(raw, &c) != nil {
		return c, ErrInvalid
	}
	if s.now().Unix() >= c.Expires {
		return c, ErrInvalid
	}
	return c, nil
}
