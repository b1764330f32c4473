package httpserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The client's address: the peer's, or, when the peer is a proxy the
// configuration trusts, the address that proxy (and any trusted proxy
// before it) says it forwarded for. X-Forwarded-For is read from the
// right: each trusted hop is skipped and the first address that is not
// trusted is the client's. A client cannot choose its address by
// sending the header itself: what it sent is on the left of what the
// trusted proxies appended.

type clientAddrKey struct{}

// ParseTrustedProxies reads a comma-separated list of CIDR prefixes or
// single addresses ("10.0.0.0/8, 192.0.2.1").
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(list, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q is not an address or a CIDR prefix such as 10.0.0.0/8", part)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is not an address or a CIDR prefix such as 10.0.0.0/8", part)
		}
		out = append(out, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked())
	}
	return out, nil
}

// clientAddr returns the client's address for r given the trusted proxies.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if !isTrusted(peer) {
		return peer.String()
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbage: the last proxy that said something sensible is as far as we can see
		}
		client = a.Unmap()
		if !isTrusted(client) {
			break
		}
	}
	return client.String()
}

// withClientAddr finds each request's client address once, for
// remoteHost.
func (s *Server) withClientAddr(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), clientAddrKey{}, clientAddr(r, s.TrustedProxies))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// remoteHost is the client's address: the peer's, or the one trusted
// proxies forwarded for (see clientAddr).
func remoteHost(r *http.Request) string {
	if a, ok := r.Context().Value(clientAddrKey{}).(string); ok {
		return a
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return host
}
