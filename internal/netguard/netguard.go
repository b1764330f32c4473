// Package netguard decides which addresses slokeeper may connect to on
// behalf of what others configured: subscribers' webhooks and components'
// probes. By default it refuses every address that is not on the public
// internet (loopback, unspecified, link-local with the cloud metadata
// service, private, shared CGNAT, multicast and reserved ranges, in their
// IPv4, IPv6, IPv4-mapped and NAT64 forms), unless the operator allows a
// prefix in the configuration.
//
// The check runs in the dialer's Control function, on the address the
// connection is actually made to, after name resolution: a name that
// resolves (or is re-bound) to a refused address, or a redirect to one,
// is refused as well.
package netguard

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// A range refused by default, and what it is called in errors.
type refusedRange struct {
	prefix netip.Prefix
	kind   string
	word   string // what allows it: a word of the allow list, or the prefix
}

func mustPrefixes(kind, word string, ss ...string) []refusedRange {
	var out []refusedRange
	for _, s := range ss {
		w := word
		if w == "" {
			w = s
		}
		out = append(out, refusedRange{netip.MustParsePrefix(s), kind, w})
	}
	return out
}

// Word names for the allow list, each a set of prefixes.
var words = map[string][]string{
	"loopback":    {"127.0.0.0/8", "::1/128"},
	"private":     {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fec0::/10"},
	"link-local":  {"169.254.0.0/16", "fe80::/10"},
	"unspecified": {"0.0.0.0/32", "::/128"},
}

// refused lists, most specific first, the ranges refused unless allowed.
func refused() []refusedRange {
	var rs []refusedRange
	rs = append(rs, mustPrefixes("an unspecified address (it reaches this machine)", "unspecified", words["unspecified"]...)...)
	rs = append(rs, mustPrefixes("a loopback address", "loopback", words["loopback"]...)...)
	rs = append(rs, mustPrefixes("a link-local address (169.254.169.254 is the cloud metadata service)", "link-local", words["link-local"]...)...)
	rs = append(rs, mustPrefixes("a private address", "private", words["private"]...)...)
	rs = append(rs, mustPrefixes("a multicast address", "", "224.0.0.0/4", "ff00::/8")...)
	rs = append(rs, mustPrefixes("a reserved address", "", "::/96", "0.0.0.0/8", "240.0.0.0/4", "192.0.0.0/24", "198.18.0.0/15", "100::/64", "2001:db8::/32")...)
	return rs
}

// nat64 is the well-known NAT64 prefix (RFC 6052): its addresses carry an
// IPv4 address that a NAT64 gateway would reach.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Policy says which destinations may be connected to. The zero value, and
// a nil *Policy, refuse every range this package lists and allow the
// public internet.
type Policy struct {
	allow []netip.Prefix
	// setting names the configuration that allows more, for errors:
	// e.g. "webhook_allow_targets (--webhook-allow-targets, SLOKEEPER_WEBHOOK_ALLOW_TARGETS)".
	setting string
	refused []refusedRange
}

// Parse reads an allow list: comma-separated CIDR prefixes or addresses,
// or the words loopback (127.0.0.0/8, ::1), private (10/8, 172.16/12,
// 192.168/16, 100.64/10, fc00::/7, fec0::/10), link-local (169.254/16,
// fe80::/10) and unspecified (0.0.0.0, ::). Empty: nothing more than the
// public internet. setting names the configuration the list comes from,
// for the refusals' words.
func Parse(list, setting string) (*Policy, error) {
	p := &Policy{setting: setting, refused: refused()}
	for f := range strings.SplitSeq(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if ws, ok := words[strings.ToLower(f)]; ok {
			for _, w := range ws {
				p.allow = append(p.allow, netip.MustParsePrefix(w))
			}
			continue
		}
		pfx, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%s: %q is not a CIDR prefix (10.0.0.0/8, fd00::/8), an address, or one of loopback, private, link-local, unspecified", setting, f)
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		p.allow = append(p.allow, unmapPrefix(pfx.Masked()))
	}
	return p, nil
}

// unmapPrefix writes an IPv4-mapped prefix (::ffff:10.0.0.0/104) as the
// IPv4 prefix it means, since addresses are checked unmapped.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// normalize returns the IPv4 address an IPv6 form carries (IPv4-mapped,
// NAT64), or a without its zone.
func normalize(a netip.Addr) netip.Addr {
	a = a.WithZone("").Unmap()
	if a.Is6() && nat64.Contains(a) {
		b := a.As16()
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	return a
}

// RefusedError is a connection the policy refused.
type RefusedError struct {
	Addr    netip.Addr // as dialed
	Kind    string     // e.g. "a loopback address"
	Word    string     // the allow list's word or prefix for its range, e.g. "loopback"
	Setting string     // the configuration that would allow it
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s is %s: slokeeper does not connect to it unless %s allows it (e.g. %s or %s)",
		e.Addr, e.Kind, e.Setting, e.Word, suggest(e.Addr))
}

// Permanent reports that trying again cannot help until the configuration changes.
func (e *RefusedError) Permanent() bool { return true }

func suggest(a netip.Addr) string {
	a = normalize(a)
	return netip.PrefixFrom(a, a.BitLen()).String()
}

func (p *Policy) ranges() []refusedRange {
	if p == nil || p.refused == nil {
		return refused()
	}
	return p.refused
}

func (p *Policy) settingName() string {
	if p == nil || p.setting == "" {
		return "the configuration"
	}
	return p.setting
}

// Check returns a *RefusedError if a may not be connected to, nil if it may.
func (p *Policy) Check(a netip.Addr) error {
	n := normalize(a)
	if p != nil {
		for _, pfx := range p.allow {
			if pfx.Contains(n) {
				return nil
			}
		}
	}
	for _, r := range p.ranges() {
		if r.prefix.Contains(n) {
			return &RefusedError{Addr: a, Kind: r.kind, Word: r.word, Setting: p.settingName()}
		}
	}
	return nil
}

// CheckHost checks a host as written in a URL or host:port, before any
// lookup: a literal address, or localhost (and names under .localhost,
// which always mean loopback). Other names pass: they are checked when
// dialed. It is the early check that gives a clear answer when a target
// is configured; the dial-time check is the guard.
func (p *Policy) CheckHost(host string) error {
	h := strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return p.Check(netip.IPv6Loopback())
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return p.Check(a)
	}
	return nil
}

// Control is a net.Dialer Control function: it refuses a connection to a
// refused address, after resolution and before the connection is made.
func (p *Policy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("netguard: %s %q is not an address and port", network, address)
	}
	return p.Check(ap.Addr())
}

// Dialer returns a dialer that checks every address it connects to.
func (p *Policy) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, Control: p.Control}
}

// Transport returns an HTTP transport whose every connection is checked.
// It uses no proxy: a proxy would make the checked address the proxy's,
// not the target's.
func (p *Policy) Transport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           p.Dialer(10 * time.Second).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
}

// DialContext dials through the policy's dialer (no timeout of its own:
// ctx bounds it).
func (p *Policy) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return p.Dialer(0).DialContext(ctx, network, address)
}
