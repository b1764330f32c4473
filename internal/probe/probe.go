// Package probe checks a component from the outside, the way its users
// reach it: HTTP(S) (status, body, latency, certificate expiry), a TCP
// connection, or a DNS lookup. A check never fails slokeeper: whatever goes
// wrong is the result, with a reason a person can act on.
package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"slokeeper"
	"slokeeper/internal/netguard"
)

// Result is one check.
type Result struct {
	At      time.Time     `json:"at"`
	OK      bool          `json:"ok"`
	Latency time.Duration `json:"latency"`
	// Detail says what was seen: the status, or why it failed.
	Detail string `json:"detail"`
	// CertExpires is when the server's certificate expires (HTTPS).
	CertExpires time.Time `json:"cert_expires,omitzero"`
}

// Prober runs checks.
type Prober struct {
	clock     slokeeper.Clock // stamps results and judges certificate expiry
	targets   *netguard.Policy
	transport *http.Transport
}

// New returns a Prober. tlsConfig, if set, is the client's TLS
// configuration (e.g. extra roots). targets says which addresses probes
// may connect to (HTTP and TCP targets, DNS servers), checked at every
// dial; nil: the public internet only.
func New(clock slokeeper.Clock, tlsConfig *tls.Config, targets *netguard.Policy) *Prober {
	if clock == nil {
		clock = slokeeper.SystemClock{}
	}
	// No keep-alive: each check sees what a new user sees (DNS, connect,
	// TLS). No proxy: the address checked is the target's.
	tr := &http.Transport{TLSClientConfig: tlsConfig, DisableKeepAlives: true, Proxy: nil,
		DialContext: targets.Dialer(10 * time.Second).DialContext, ResponseHeaderTimeout: 30 * time.Second}
	return &Prober{clock: clock, targets: targets, transport: tr}
}

// CheckTarget refuses, when a probe is configured, a target (or DNS
// server) whose host is an address or localhost that probes may not
// reach, as a domain error for the person who wrote it. Names are
// checked when dialed; a DNS probe's name and expected address are never
// dialed and not checked.
func (p *Prober) CheckTarget(s slokeeper.Probe) error {
	var host string
	switch s.Kind {
	case slokeeper.ProbeHTTP:
		if u, err := url.Parse(s.Target); err == nil {
			host = u.Hostname()
		}
	case slokeeper.ProbeTCP:
		host, _, _ = net.SplitHostPort(s.Target)
	case slokeeper.ProbeDNS:
		host, _, _ = net.SplitHostPort(s.Server)
	}
	if host == "" {
		return nil
	}
	if err := p.targets.CheckHost(host); err != nil {
		return slokeeper.Errorf(slokeeper.EINVALID, "The probe's %s %s cannot be checked: %s.", map[bool]string{true: "DNS server", false: "target"}[s.Kind == slokeeper.ProbeDNS], host, err)
	}
	return nil
}

// Check runs one check of s.
func (p *Prober) Check(ctx context.Context, s slokeeper.Probe) Result {
	r := Result{At: p.clock.Now()}
	if err := s.Validate(); err != nil {
		r.Detail = slokeeper.ErrorMessage(err)
		return r
	}
	timeout := time.Duration(s.Timeout)
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var err error
	switch s.Kind {
	case slokeeper.ProbeHTTP:
		err = p.http(ctx, s, &r)
	case slokeeper.ProbeTCP:
		var c net.Conn
		if c, err = p.targets.DialContext(ctx, "tcp", s.Target); err == nil {
			c.Close()
			r.Detail = "connected"
		}
	case slokeeper.ProbeDNS:
		err = p.dnsCheck(ctx, s, &r)
	}
	r.Latency = time.Since(start)
	switch {
	case err != nil:
		r.Detail = describe(err, timeout)
	case s.MaxLatency > 0 && r.Latency > time.Duration(s.MaxLatency):
		r.Detail = fmt.Sprintf("too slow: %s, the limit is %s (%s)", r.Latency.Round(time.Millisecond), time.Duration(s.MaxLatency), r.Detail)
	default:
		r.OK = true
	}
	return r
}

func (p *Prober) http(ctx context.Context, s slokeeper.Probe, r *Result) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Target, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "slokeeper-probe")
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading the body: %w", err)
	}
	r.Detail = resp.Status
	if ok := slices.Contains(s.Status, resp.StatusCode) || len(s.Status) == 0 && resp.StatusCode < 400; !ok {
		return fmt.Errorf("status %s", resp.Status)
	}
	if s.Body != "" && !regexp.MustCompile(s.Body).Match(body) {
		return fmt.Errorf("the body does not match %q", s.Body)
	}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		r.CertExpires = resp.TLS.PeerCertificates[0].NotAfter
		if left := r.CertExpires.Sub(r.At); s.CertExpiry > 0 && left < time.Duration(s.CertExpiry) {
			return fmt.Errorf("the certificate expires %s (in %d days)", r.CertExpires.UTC().Format(time.RFC3339), int(left.Hours()/24))
		}
	}
	return nil
}

// dnsCheck asks s.Server, through the guarded dialer, or else the
// system's resolver (which the operator configured, so it is not
// checked: it is often on loopback).
func (p *Prober) dnsCheck(ctx context.Context, s slokeeper.Probe, r *Result) error {
	res := net.DefaultResolver
	if s.Server != "" {
		res = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return p.targets.DialContext(ctx, network, s.Server)
		}}
	}
	addrs, err := res.LookupHost(ctx, s.Target)
	if err != nil {
		return err
	}
	r.Detail = strings.Join(addrs, " ")
	if s.Expect != "" && !slices.ContainsFunc(addrs, func(a string) bool { return net.ParseIP(a).Equal(net.ParseIP(s.Expect)) }) {
		return fmt.Errorf("%s resolves to %s, not %s", s.Target, r.Detail, s.Expect)
	}
	return nil
}

// describe words an error for the status page's operators.
func describe(err error, timeout time.Duration) string {
	var dnsErr *net.DNSError
	var refused *netguard.RefusedError
	switch {
	case errors.As(err, &refused):
		return refused.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s", timeout)
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return "no such name: " + dnsErr.Name
	}
	return err.Error()
}
