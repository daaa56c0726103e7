package access

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// TOTP (RFC 6238) with the parameters every authenticator app assumes:
// HMAC-SHA1, 30-second steps, 6 digits.
const (
	totpStep   = 30
	totpDigits = 6
)

var totpEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a fresh 160-bit secret.
func NewTOTPSecret() []byte {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return b
}

// TOTPText is the secret as people type it into an app (base32).
func TOTPText(secret []byte) string { return totpEncoding.EncodeToString(secret) }

// ParseTOTPText reads a base32 secret, ignoring spaces and case.
func ParseTOTPText(s string) ([]byte, bool) {
	b, err := totpEncoding.DecodeString(strings.ToUpper(strings.ReplaceAll(s, " ", "")))
	return b, err == nil && len(b) >= 16 && len(b) <= 64
}

// TOTPURI is the otpauth:// address an app can import.
func TOTPURI(issuer, account string, secret []byte) string {
	return fmt.Sprintf("otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=%d&period=%d",
		url.PathEscape(issuer), url.PathEscape(account), TOTPText(secret), url.QueryEscape(issuer), totpDigits, totpStep)
}

// hotp is RFC 4226's HOTP value of counter, as digits decimal digits.
func hotp(secret []byte, counter uint64, digits int) string {
	m := hmac.New(sha1.New, secret)
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], counter)
	m.Write(c[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for i := 0; i < digits; i++ {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

// TOTPAt is the code for time t.
func TOTPAt(secret []byte, t time.Time) string {
	return hotp(secret, uint64(t.Unix()/totpStep), totpDigits)
}

// CheckTOTP accepts the code of the current step or one step either side
// (clock drift), but not a step at or before lastStep, so a code seen once
// cannot be used again. It returns the step that matched.
func CheckTOTP(secret []byte, code string, now time.Time, lastStep int64) (int64, bool) {
	code = strings.TrimSpace(code)
	if len(code) != totpDigits {
		return 0, false
	}
	step := now.Unix() / totpStep
	for _, s := range []int64{step - 1, step, step + 1} {
		if s <= lastStep || s < 0 {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(hotp(secret, uint64(s), totpDigits)), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}
