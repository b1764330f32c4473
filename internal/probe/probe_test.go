package probe_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"slokeeper"
	"slokeeper/internal/netguard"
	"slokeeper/internal/probe"
)

type clock struct{ now time.Time }

// loopback allows probes of this machine: the tests' servers listen on
// loopback, which probes may not reach by default.
func loopback(tb testing.TB) *netguard.Policy {
	tb.Helper()
	p, err := netguard.Parse("loopback", "probe_allow_targets")
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func (c clock) Now() time.Time { return c.now }

func TestHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.Write([]byte(`{"status":"ok"}`))
		case "/broken":
			http.Error(w, "database down", http.StatusServiceUnavailable)
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer srv.Close()
	p := probe.New(clock{time.Now()}, nil, loopback(t))
	ctx := context.Background()
	tests := []struct {
		name   string
		spec   slokeeper.Probe
		ok     bool
		detail string
	}{
		{"Up", slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: srv.URL + "/healthz"}, true, "200 OK"},
		{"BodyMatches", slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: srv.URL + "/healthz", Body: `"status":\s*"ok"`}, true, "200 OK"},
		{"BodyDoesNot", slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: srv.URL + "/healthz", Body: `degraded`}, false, `does not match "degraded"`},
		{"ServerError", slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: srv.URL + "/broken"}, false, "status 503 Service Unavailable"},
		{"ExpectedStatus", slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: srv.URL + "/teapot", Status: []int{418}}, true, "418"},
		{"UnexpectedStatus", slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: srv.URL + "/healthz", Status: []int{204}}, false, "status 200 OK"},
		{"TooSlow", slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: srv.URL + "/healthz", MaxLatency: slokeeper.Duration(time.Nanosecond)}, false, "too slow"},
		{"Invalid", slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: "ftp://example.com"}, false, "http:// or https:// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := p.Check(ctx, tt.spec)
			if r.OK != tt.ok || !strings.Contains(r.Detail, tt.detail) || r.At.IsZero() {
				t.Errorf("Check = %+v, want ok=%v with %q", r, tt.ok, tt.detail)
			}
		})
	}
	// A server that went away.
	url := srv.URL
	srv.Close()
	if r := p.Check(ctx, slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: url + "/healthz"}); r.OK || !strings.Contains(r.Detail, "refused") {
		t.Errorf("a stopped server = %+v", r)
	}
}

func TestHTTPSCertificateExpiry(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	expires := srv.Certificate().NotAfter
	spec := slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: srv.URL, CertExpiry: slokeeper.Duration(14 * 24 * time.Hour)}
	// Long before expiry: fine, and the expiry is reported.
	if r := probe.New(clock{expires.AddDate(0, -2, 0)}, &tls.Config{RootCAs: roots}, loopback(t)).Check(context.Background(), spec); !r.OK || !r.CertExpires.Equal(expires) {
		t.Errorf("two months before expiry = %+v", r)
	}
	// Ten days before: a failure that says so.
	if r := probe.New(clock{expires.Add(-10 * 24 * time.Hour)}, &tls.Config{RootCAs: roots}, loopback(t)).Check(context.Background(), spec); r.OK || !strings.Contains(r.Detail, "in 10 days") {
		t.Errorf("ten days before expiry = %+v", r)
	}
	// Without the test CA the certificate is not trusted.
	if r := probe.New(clock{time.Now()}, nil, loopback(t)).Check(context.Background(), spec); r.OK || !strings.Contains(r.Detail, "certificate") {
		t.Errorf("an untrusted certificate = %+v", r)
	}
}

func TestTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	p := probe.New(nil, nil, loopback(t))
	addr := l.Addr().String()
	if r := p.Check(context.Background(), slokeeper.Probe{Kind: slokeeper.ProbeTCP, Target: addr}); !r.OK {
		t.Errorf("listening = %+v", r)
	}
	l.Close()
	if r := p.Check(context.Background(), slokeeper.Probe{Kind: slokeeper.ProbeTCP, Target: addr}); r.OK {
		t.Errorf("closed = %+v", r)
	}
}

// dnsServer answers A queries for one name on a loopback UDP port.
func dnsServer(t *testing.T, name string, addr [4]byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.EnableCompression()
			found := strings.EqualFold(q.Name.String(), name+".")
			if !found || q.Type != dnsmessage.TypeA {
				b = dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: map[bool]dnsmessage.RCode{true: dnsmessage.RCodeSuccess, false: dnsmessage.RCodeNameError}[found]})
			}
			b.StartQuestions()
			b.Question(q)
			if found && q.Type == dnsmessage.TypeA {
				b.StartAnswers()
				b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: addr})
			}
			msg, _ := b.Finish()
			pc.WriteTo(msg, from)
		}
	}()
	return pc.LocalAddr().String()
}

func TestDNS(t *testing.T) {
	server := dnsServer(t, "api.example.jp", [4]byte{192, 0, 2, 10})
	p := probe.New(nil, nil, loopback(t))
	ctx := context.Background()
	if r := p.Check(ctx, slokeeper.Probe{Kind: slokeeper.ProbeDNS, Target: "api.example.jp", Server: server, Expect: "192.0.2.10"}); !r.OK || r.Detail != "192.0.2.10" {
		t.Errorf("resolves = %+v", r)
	}
	if r := p.Check(ctx, slokeeper.Probe{Kind: slokeeper.ProbeDNS, Target: "api.example.jp", Server: server, Expect: "192.0.2.99"}); r.OK || !strings.Contains(r.Detail, "not 192.0.2.99") {
		t.Errorf("the wrong address = %+v", r)
	}
	if r := p.Check(ctx, slokeeper.Probe{Kind: slokeeper.ProbeDNS, Target: "gone.example.jp", Server: server}); r.OK || !strings.Contains(r.Detail, "no such name") {
		t.Errorf("no such name = %+v", r)
	}
}

func TestValidate(t *testing.T) {
	for _, s := range []slokeeper.Probe{
		{Kind: "ping", Target: "x"},
		{Kind: slokeeper.ProbeHTTP, Target: "example.com"},
		{Kind: slokeeper.ProbeHTTP, Target: "https://example.com", Body: "("},
		{Kind: slokeeper.ProbeHTTP, Target: "https://example.com", Status: []int{42}},
		{Kind: slokeeper.ProbeHTTP, Target: "http://example.com", CertExpiry: slokeeper.Duration(time.Hour)},
		{Kind: slokeeper.ProbeTCP, Target: "example.com"},
		{Kind: slokeeper.ProbeDNS, Target: "https://example.com"},
		{Kind: slokeeper.ProbeDNS, Target: "example.com", Expect: "not-an-ip"},
		{Kind: slokeeper.ProbeTCP, Target: "example.com:443", Timeout: slokeeper.Duration(-time.Second)},
	} {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v validated", s)
		}
	}
}

// BenchmarkHTTPCheck is one HTTP probe of a loopback server: a new
// connection each time, as the checks make them. The budget is
// 500 probes every 10 s in under 10% of one core: 2 ms of CPU per probe,
// the server's share included here.
func BenchmarkHTTPCheck(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"status":"ok"}`)) }))
	defer srv.Close()
	p := probe.New(nil, nil, loopback(b))
	spec := slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: srv.URL, Body: `"ok"`}
	b.ReportAllocs()
	for b.Loop() {
		if r := p.Check(context.Background(), spec); !r.OK {
			b.Fatal(r.Detail)
		}
	}
}

// TestRefusedTargets: by default a probe of loopback (HTTP, TCP, a DNS
// server; by address or by a name resolving to it), of the cloud
// metadata address or of an IPv4-mapped loopback address fails with the
// reason, without reaching anything; allowed, the same probes work. The
// early check, CheckTarget, refuses the literal addresses.
func TestRefusedTargets(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	dns := dnsServer(t, "api.example.jp", [4]byte{192, 0, 2, 10})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	specs := []slokeeper.Probe{
		{Kind: slokeeper.ProbeHTTP, Target: srv.URL},
		{Kind: slokeeper.ProbeHTTP, Target: "http://localhost:" + port + "/"},
		{Kind: slokeeper.ProbeTCP, Target: strings.TrimPrefix(srv.URL, "http://")},
		{Kind: slokeeper.ProbeTCP, Target: "[::ffff:127.0.0.1]:" + port},
		{Kind: slokeeper.ProbeDNS, Target: "api.example.jp", Server: dns, Expect: "192.0.2.10"},
	}
	refuse, err := netguard.Parse("", "probe_allow_targets")
	if err != nil {
		t.Fatal(err)
	}
	p := probe.New(nil, nil, refuse)
	for _, s := range append(specs, slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: "http://169.254.169.254/latest/meta-data/", Timeout: slokeeper.Duration(2 * time.Second)}) {
		r := p.Check(context.Background(), s)
		if r.OK || !strings.Contains(r.Detail, "probe_allow_targets") || !strings.Contains(r.Detail, "is a") {
			t.Errorf("%s %s: %+v, want refused with the reason", s.Kind, s.Target, r)
		}
		if err := p.CheckTarget(s); slokeeper.ErrorCode(err) != slokeeper.EINVALID || !strings.Contains(slokeeper.ErrorMessage(err), "probe_allow_targets") {
			t.Errorf("CheckTarget(%s %s %s) = %v", s.Kind, s.Target, s.Server, err)
		}
	}
	if hits != 0 {
		t.Fatalf("refused probes reached the server %d times", hits)
	}
	if err := p.CheckTarget(slokeeper.Probe{Kind: slokeeper.ProbeDNS, Target: "api.example.jp", Server: "127.0.0.53:53"}); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("a loopback DNS server: %v", err)
	}
	if err := p.CheckTarget(slokeeper.Probe{Kind: slokeeper.ProbeDNS, Target: "localhost", Expect: "127.0.0.1"}); err != nil {
		t.Errorf("a name and the address it must resolve to are not dialed: %v", err)
	}
	if err := p.CheckTarget(slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: "https://api.example.jp/healthz"}); err != nil {
		t.Errorf("a public name: %v", err)
	}
	allowed := probe.New(nil, nil, loopback(t))
	for _, s := range specs {
		if r := allowed.Check(context.Background(), s); !r.OK {
			t.Errorf("allowed: %s %s: %+v", s.Kind, s.Target, r)
		}
	}
}
