// Package clientaddr names the client of a request for per-client limits.
package clientaddr

import (
	"net"
	"net/http"
	"net/netip"
)

// Key is what per-client limits count under: the IPv4 address, or the /64
// network of an IPv6 one (a subscriber usually holds a whole /64, so counting
// single IPv6 addresses would let one client be millions). It comes from the
// connection only: behind a proxy every client has the proxy's key, since
// X-Forwarded-For can be set by any client.
func Key(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	prefix, err := addr.WithZone("").Prefix(64)
	if err != nil {
		return host
	}
	return prefix.String()
}
