package netguard_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"slokeeper/internal/netguard"
)

func mustParse(t *testing.T, list string) *netguard.Policy {
	t.Helper()
	p, err := netguard.Parse(list, "test_allow_targets")
	if err != nil {
		t.Fatalf("Parse(%q): %v", list, err)
	}
	return p
}

// TestPolicy: every range is refused by default, in each of its forms,
// and allowed by its word or a prefix; public addresses always pass.
func TestPolicy(t *testing.T) {
	for _, tt := range []struct {
		allow, addr string
		ok          bool
		kind        string // a word of the refusal, when refused
	}{
		{"", "127.0.0.1", false, "loopback"},
		{"", "127.255.255.254", false, "loopback"},
		{"", "::1", false, "loopback"},
		{"", "::ffff:127.0.0.1", false, "loopback"},
		{"", "64:ff9b::7f00:1", false, "loopback"}, // NAT64 form of 127.0.0.1
		{"", "0.0.0.0", false, "unspecified"},
		{"", "::", false, "unspecified"},
		{"", "169.254.169.254", false, "metadata"},
		{"", "::ffff:169.254.169.254", false, "link-local"},
		{"", "fe80::1%eth0", false, "link-local"},
		{"", "10.1.2.3", false, "private"},
		{"", "172.16.0.1", false, "private"},
		{"", "172.31.255.255", false, "private"},
		{"", "192.168.1.1", false, "private"},
		{"", "fd12:3456::1", false, "private"},
		{"", "100.64.0.1", false, "private"},
		{"", "224.0.0.251", false, "multicast"},
		{"", "ff02::1", false, "multicast"},
		{"", "255.255.255.255", false, "reserved"},
		{"", "::127.0.0.1", false, "reserved"},
		{"", "8.8.8.8", true, ""},
		{"", "172.32.0.1", true, ""},
		{"", "100.128.0.1", true, ""},
		{"", "2606:4700::1111", true, ""},
		{"", "::ffff:8.8.8.8", true, ""},
		{"loopback", "127.0.0.1", true, ""},
		{"loopback", "::1", true, ""},
		{"loopback", "::ffff:127.0.0.1", true, ""},
		{"loopback", "10.0.0.1", false, "private"},
		{"loopback", "169.254.169.254", false, "link-local"},
		{"private", "10.0.0.1", true, ""},
		{"private", "fd00::1", true, ""},
		{"private", "127.0.0.1", false, "loopback"},
		{"private", "169.254.169.254", false, "link-local"},
		{"10.20.0.0/16", "10.20.3.4", true, ""},
		{"10.20.0.0/16", "10.21.3.4", false, "private"},
		{" 10.20.0.0/16 , 127.0.0.2 ", "127.0.0.2", true, ""},
		{"10.20.0.0/16,127.0.0.2", "127.0.0.1", false, "loopback"},
		{"::ffff:192.168.0.0/112", "192.168.7.7", true, ""},
		{"link-local", "169.254.169.254", true, ""},
	} {
		err := mustParse(t, tt.allow).Check(netip.MustParseAddr(tt.addr))
		var re *netguard.RefusedError
		switch {
		case tt.ok && err != nil:
			t.Errorf("allow %q, %s: %v, want allowed", tt.allow, tt.addr, err)
		case !tt.ok && !errors.As(err, &re):
			t.Errorf("allow %q, %s: %v, want refused", tt.allow, tt.addr, err)
		case !tt.ok && (!strings.Contains(err.Error(), tt.kind) || !strings.Contains(err.Error(), "test_allow_targets")):
			t.Errorf("allow %q, %s: %q does not say %q and the setting", tt.allow, tt.addr, err, tt.kind)
		}
	}
	// A nil or zero policy refuses like an empty list.
	var nilPolicy *netguard.Policy
	if nilPolicy.Check(netip.MustParseAddr("127.0.0.1")) == nil || (&netguard.Policy{}).Check(netip.MustParseAddr("10.0.0.1")) == nil {
		t.Error("a nil or zero policy allowed a refused address")
	}
	for _, bad := range []string{"10.0.0.0/33", "everything", "10.0.0.1-10.0.0.9", "fe80::1%eth0"} {
		if _, err := netguard.Parse(bad, "x"); err == nil {
			t.Errorf("Parse(%q) took it", bad)
		}
	}
}

// TestCheckHost: literal addresses and localhost are refused before any
// lookup; other names are left to the dial.
func TestCheckHost(t *testing.T) {
	p := mustParse(t, "")
	for _, h := range []string{"127.0.0.1", "[::1]", "::ffff:127.0.0.1", "169.254.169.254", "localhost", "LocalHost.", "api.localhost", "10.0.0.1"} {
		if err := p.CheckHost(h); err == nil {
			t.Errorf("CheckHost(%q) passed", h)
		}
	}
	for _, h := range []string{"hooks.example.jp", "8.8.8.8", "[2606:4700::1111]"} {
		if err := p.CheckHost(h); err != nil {
			t.Errorf("CheckHost(%q) = %v", h, err)
		}
	}
}

// TestDialRefused: the check runs on the address dialed, after the name
// is resolved: "localhost" and a loopback listener are refused at the
// dial by default, and connect once loopback (or that one address) is
// allowed.
func TestDialRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	for _, addr := range []string{l.Addr().String(), net.JoinHostPort("localhost", port)} {
		_, err := mustParse(t, "").DialContext(context.Background(), "tcp", addr)
		var re *netguard.RefusedError
		if !errors.As(err, &re) || !re.Addr.IsLoopback() {
			t.Errorf("dial %s: %v, want refused as loopback", addr, err)
		}
	}
	for _, allow := range []string{"loopback", "127.0.0.1/32"} {
		c, err := mustParse(t, allow).DialContext(context.Background(), "tcp4", net.JoinHostPort("localhost", port))
		if err != nil {
			t.Errorf("allow %s: %v", allow, err)
			continue
		}
		c.Close()
	}
}

// TestRedirectRefused: a client that follows redirects over the guarded
// transport cannot be sent from an allowed address to a refused one.
// 127.0.0.2 stands for a public server (it alone is allowed); it
// redirects to 127.0.0.1, which is not.
func TestRedirectRefused(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reached := false
	innerSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true })}
	go innerSrv.Serve(inner)
	defer innerSrv.Close()
	outer, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this machine: %v", err)
	}
	outerSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+inner.Addr().String()+"/metadata", http.StatusFound)
	})}
	go outerSrv.Serve(outer)
	defer outerSrv.Close()

	client := &http.Client{Transport: mustParse(t, "127.0.0.2/32").Transport()}
	resp, err := client.Get("http://" + outer.Addr().String() + "/")
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var re *netguard.RefusedError
	if !errors.As(err, &re) || re.Addr != netip.MustParseAddr("127.0.0.1") || reached {
		t.Fatalf("redirect to loopback: %v (reached: %v), want refused", err, reached)
	}
}
