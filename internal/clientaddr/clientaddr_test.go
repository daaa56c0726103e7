package clientaddr

import (
	"net/http"
	"testing"
)

func TestKey(t *testing.T) {
	for remote, want := range map[string]string{
		"203.0.113.9:5000":               "203.0.113.9",
		"[::ffff:203.0.113.9]:5000":      "203.0.113.9",
		"[2001:db8:1:2:aaaa::1]:443":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:bbbb:cccc::7]:80": "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:80":           "2001:db8:1:3::/64",
		"[fe80::1%eth0]:80":              "fe80::/64",
		"not an address":                 "not an address",
	} {
		if got := Key(&http.Request{RemoteAddr: remote}); got != want {
			t.Errorf("Key(%q) = %q, want %q", remote, got, want)
		}
	}
}
