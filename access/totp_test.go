package access

import (
	"testing"
	"time"
)

// RFC 6238 appendix B, SHA-1 rows (8 digits there; the last 6 here are
// the same value mod 10^6).
func TestTOTPMatchesRFC6238Vectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, c := range []struct {
		unix int64
		want string
	}{{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"}, {1234567890, "89005924"},
		{2000000000, "69279037"}, {20000000000, "65353130"}} {
		if got := hotp(secret, uint64(c.unix/30), 8); got != c.want {
			t.Errorf("T=%d: %s, want %s", c.unix, got, c.want)
		}
		if got := TOTPAt(secret, time.Unix(c.unix, 0)); got != c.want[2:] {
			t.Errorf("T=%d 6 digits: %s, want %s", c.unix, got, c.want[2:])
		}
	}
}

func TestCheckTOTPAllowsDriftRefusesReplayAndWrongCodes(t *testing.T) {
	secret := NewTOTPSecret()
	now := time.Unix(1_800_000_000, 0)
	step, ok := CheckTOTP(secret, TOTPAt(secret, now.Add(-30*time.Second)), now, 0)
	if !ok || step != now.Unix()/30-1 {
		t.Fatalf("previous step's code: %v %d", ok, step)
	}
	if _, ok := CheckTOTP(secret, TOTPAt(secret, now), now, step+1); ok {
		t.Fatal("a code at or before the last used step was accepted again")
	}
	if _, ok := CheckTOTP(secret, TOTPAt(secret, now.Add(-2*time.Minute)), now, 0); ok {
		t.Fatal("a code four steps old was accepted")
	}
	if _, ok := CheckTOTP(secret, "12345", now, 0); ok {
		t.Fatal("a short code was accepted")
	}
	if b, ok := ParseTOTPText(TOTPText(secret)); !ok || string(b) != string(secret) {
		t.Fatal("base32 round trip failed")
	}
}
