package room

import (
	"net/mail"
	"net/url"
	"strings"
	"testing"
)

// FuzzCleanEmail: an accepted address goes into mail headers (Reply-To) and
// mailto: links, so it must be one plain address with nothing that could
// start a new header or a second recipient.
func FuzzCleanEmail(f *testing.F) {
	for _, s := range []string{"vera@example.org", " a@b.c ", "a@b", "Vera <v@x.y>", "v@x.y\r\nBcc: z@z.z", "a,b@c.d",
		"\"quoted\"@x.y", "ü@ü.de", "@x.y", "a@", strings.Repeat("a", 250) + "@x.y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, ok := CleanEmail(s)
		if !ok {
			return
		}
		if strings.ContainsAny(e, "\r\n\t <>,;\"\\") || len(e) > maxEmailChars || e != strings.TrimSpace(s) {
			t.Fatalf("%q accepted as %q", s, e)
		}
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e || a.Name != "" {
			t.Fatalf("%q accepted but parses as %v %v", e, a, err)
		}
	})
}

// FuzzCleanHTTPURL: an accepted URL is used as an image source and a link.
func FuzzCleanHTTPURL(f *testing.F) {
	for _, s := range []string{"https://x.example/a.png", "http://127.0.0.1:8/x?y#z", "javascript:alert(1)", "data:image/png,xx",
		"https://user:pw@x.example/", "//x.example/a", "https://", " https://x.example/a b", "HTTPS://X.EXAMPLE/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, ok := CleanHTTPURL(s)
		if !ok {
			return
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil ||
			strings.ContainsAny(u, " \r\n\t") || len(u) > maxURLChars {
			t.Fatalf("%q accepted as %q (%v)", s, u, err)
		}
	})
}
