package storetest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Cut is a TCP proxy in front of a real server that a test can cut and
// restore: a network cut between slokeeper and its database, with the
// real database behind it, no mock in its place.
type Cut struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// NewCut starts a proxy on a loopback port to target (host:port),
// stopped when the test ends.
func NewCut(tb testing.TB, target string) *Cut {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	c := &Cut{ln: ln, target: target, conns: map[net.Conn]bool{}}
	c.wg.Add(1)
	go c.serve()
	tb.Cleanup(func() {
		ln.Close()
		c.SetDown(true)
		c.wg.Wait()
	})
	return c
}

// CutDSN returns dsn (a postgres:// URL) through a new Cut, and the Cut.
func CutDSN(tb testing.TB, dsn string) (string, *Cut) {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	c := NewCut(tb, u.Host)
	u.Host = c.Addr()
	return u.String(), c
}

// Addr is where the proxy listens.
func (c *Cut) Addr() string { return c.ln.Addr().String() }

// SetDown cuts (every connection closed, new ones closed at once) or
// restores the path.
func (c *Cut) SetDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = down
	if down {
		for conn := range c.conns {
			conn.Close()
		}
		clear(c.conns)
	}
}

func (c *Cut) track(conns ...net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return false
	}
	for _, conn := range conns {
		c.conns[conn] = true
	}
	return true
}

func (c *Cut) serve() {
	defer c.wg.Done()
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", c.target)
		if err != nil {
			in.Close()
			continue
		}
		if !c.track(in, out) {
			in.Close()
			out.Close()
			continue
		}
		c.wg.Add(2)
		go func() { defer c.wg.Done(); io.Copy(out, in); out.Close() }()
		go func() { defer c.wg.Done(); io.Copy(in, out); in.Close() }()
	}
}
