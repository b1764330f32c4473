package slokeeper

import (
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Kinds of probe.
const (
	ProbeHTTP = "http" // an http:// or https:// URL
	ProbeTCP  = "tcp"  // host:port accepts a connection
	ProbeDNS  = "dns"  // a name resolves (to an expected address)
)

// Probe is how a component is checked from the outside.
type Probe struct {
	Kind    string   `json:"kind" yaml:"kind"`
	Target  string   `json:"target" yaml:"target"`             // URL, host:port or name
	Timeout Duration `json:"timeout,omitempty" yaml:"timeout"` // default 10s

	// HTTP.
	Status     []int    `json:"status,omitempty" yaml:"status"`           // accepted codes; default 200–399
	Body       string   `json:"body,omitempty" yaml:"body"`               // a regular expression the body must match
	MaxLatency Duration `json:"max_latency,omitempty" yaml:"max_latency"` // slower is a failure
	CertExpiry Duration `json:"cert_expiry,omitempty" yaml:"cert_expiry"` // a certificate expiring within this is a failure

	// DNS.
	Server string `json:"server,omitempty" yaml:"server"` // host:port of the DNS server; default the system's
	Expect string `json:"expect,omitempty" yaml:"expect"` // an address the name must resolve to
}

// Validate reports what is wrong with s, in words for the person who wrote it.
func (s *Probe) Validate() error {
	bad := func(format string, args ...any) error { return Errorf(EINVALID, format, args...) }
	switch s.Kind {
	case ProbeHTTP:
		u, err := url.Parse(s.Target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("An HTTP probe's target must be an http:// or https:// URL; %q is not.", s.Target)
		}
		if _, err := regexp.Compile(s.Body); err != nil {
			return bad("The body pattern %q is not a regular expression: %v.", s.Body, err)
		}
		for _, c := range s.Status {
			if c < 100 || c > 599 {
				return bad("HTTP status %d does not exist.", c)
			}
		}
		if s.CertExpiry != 0 && u.Scheme != "https" {
			return bad("cert_expiry needs an https:// target.")
		}
	case ProbeTCP:
		if _, port, err := net.SplitHostPort(s.Target); err != nil || port == "" {
			return bad("A TCP probe's target is host:port; %q is not.", s.Target)
		}
	case ProbeDNS:
		if s.Target == "" || strings.ContainsAny(s.Target, " /:") {
			return bad("A DNS probe's target is a name; %q is not.", s.Target)
		}
		if s.Server != "" {
			if _, _, err := net.SplitHostPort(s.Server); err != nil {
				return bad("A DNS server is host:port; %q is not.", s.Server)
			}
		}
		if s.Expect != "" && net.ParseIP(s.Expect) == nil {
			return bad("expect must be an IP address; %q is not.", s.Expect)
		}
	default:
		return bad("A probe is http, tcp or dns; %q is none of them.", s.Kind)
	}
	if s.Timeout < 0 || s.MaxLatency < 0 || s.CertExpiry < 0 {
		return bad("Durations of a probe cannot be negative.")
	}
	return nil
}

// Duration is a time.Duration written as people write one ("30s", "1h30m")
// in JSON and YAML.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return Errorf(EINVALID, "%q is not a duration like 30s or 1h30m.", b)
	}
	*d = Duration(v)
	return nil
}
