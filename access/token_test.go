package access

import (
	"testing"
	"time"
)

func TestIssueVerify(t *testing.T) {
	s, err := NewSigner([]byte("0123456789abcdef0123"))
	if err != nil {
		t.Fatal(err)
	}
	tok := s.Issue(Claims{Room: "r1", MemberID: "m1", Name: "Ann", Role: 2}, time.Hour)
	c, err := s.Verify(tok)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if c.Room != "r1" || c.MemberID != "m1" || c.Name != "Ann" || c.Role != 2 {
		t.Fatalf("claims = %+v", c)
	}

	other, _ := NewSigner([]byte("another-secret-of-16+"))
	if _, err := other.Verify(tok); err == nil {
		t.Fatal("token verified with another secret")
	}
	tampered := "x" + tok[1:]
	if _, err := s.Verify(tampered); err == nil {
		t.Fatal("tampered token verified")
	}
	for _, bad := range []string{"", ".", "abc", "a.b.c"} {
		if _, err := s.Verify(bad); err == nil {
			t.Fatalf("%q verified", bad)
		}
	}

	s.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := s.Verify(tok); err == nil {
		t.Fatal("expired token verified")
	}
}
