// Package pgcluster starts a private PostgreSQL primary and a streaming
// standby for tests of database failover: two local instances on free
// ports in a temporary directory, from the PostgreSQL server binaries the
// machine has (Debian's /usr/lib/postgresql/<version>/bin, or
// SLOKEEPER_TEST_PG_BIN). Tests that need it skip when the binaries are
// missing, except under CI=true, where they fail.
package pgcluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options shape the cluster.
type Options struct {
	// Synchronous makes the primary wait, before a commit returns, until
	// the standby has the commit's WAL on disk (synchronous_standby_names
	// = '*', synchronous_commit = on). Default: asynchronous replication.
	Synchronous bool
}

// Server is one PostgreSQL instance of the cluster.
type Server struct {
	Name string // "primary" or "standby"
	Port int
	Dir  string // its data directory
	c    *Cluster
}

// Cluster is a primary and a standby streaming from it.
type Cluster struct {
	Primary, Standby *Server
	bin              string
	dir              string
	cred             *syscall.Credential // the user the servers run as, when the test runs as root
}

// Start creates, starts and returns a primary and a standby replicating
// from it; both are stopped and removed when the test ends.
func Start(tb testing.TB, opt Options) *Cluster {
	tb.Helper()
	bin, err := findBin()
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("the PostgreSQL server binaries are required under CI=true (scripts/ensure-services installs them): %v", err)
		}
		tb.Skipf("no PostgreSQL server binaries: %v", err)
	}
	c := &Cluster{bin: bin}
	// PostgreSQL refuses to run as root: then the servers run as the
	// postgres user, in a directory of theirs (a test's TempDir is root's
	// alone).
	dir, err := os.MkdirTemp("", "pgcluster-")
	if err != nil {
		tb.Fatal(err)
	}
	c.dir = dir
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("running as root, the PostgreSQL servers need the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
	}
	c.Primary = &Server{Name: "primary", Port: freePort(tb), Dir: filepath.Join(dir, "primary"), c: c}
	c.Standby = &Server{Name: "standby", Port: freePort(tb), Dir: filepath.Join(dir, "standby"), c: c}
	tb.Cleanup(func() { c.Standby.stop("immediate"); c.Primary.stop("immediate") })

	p := c.Primary
	c.run(tb, "initdb", "-D", p.Dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	conf := fmt.Sprintf(`
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
wal_level = replica
max_wal_senders = 4
hot_standby = on
max_connections = 60
shared_buffers = 32MB
fsync = on
`, p.Port, dir)
	if opt.Synchronous {
		conf += "synchronous_standby_names = '*'\nsynchronous_commit = on\n"
	}
	c.appendConf(tb, p, conf)
	p.Start(tb)
	s := c.Standby
	c.run(tb, "pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", "postgres", "-D", s.Dir, "-R", "-X", "stream", "--no-sync")
	// The copy carries the primary's settings: the standby gets its own
	// port, and a standby does not itself wait for standbys.
	c.appendConf(tb, s, fmt.Sprintf("port = %d\nsynchronous_standby_names = ''\n", s.Port))
	s.Start(tb)
	c.WaitStreaming(tb)
	return c
}

// DSN is the multi-host URL a slokeeper node is given: both servers, the
// connection going to whichever accepts writes.
func (c *Cluster) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/postgres?sslmode=disable&target_session_attrs=read-write&connect_timeout=3",
		c.Primary.Port, c.Standby.Port)
}

// DSN is a URL to this server alone.
func (s *Server) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=3", s.Port)
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

// Start starts the server and waits until it accepts connections.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	s.c.run(tb, "pg_ctl", "-D", s.Dir, "-l", filepath.Join(s.c.dir, s.Name+".log"), "-w", "-t", "60", "start")
}

// Stop stops the server the hard way (pg_ctl stop -m immediate: no
// checkpoint, clients cut off, as in a crash).
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	if out, err := s.stop("immediate"); err != nil {
		tb.Fatalf("stop %s: %v\n%s", s.Name, err, out)
	}
}

func (s *Server) stop(mode string) ([]byte, error) {
	if _, err := os.Stat(filepath.Join(s.Dir, "postmaster.pid")); err != nil {
		return nil, nil // not running
	}
	return s.c.command("pg_ctl", "-D", s.Dir, "-m", mode, "-w", "stop").CombinedOutput()
}

// Promote turns a standby into a primary and waits until it takes writes.
func (s *Server) Promote(tb testing.TB) {
	tb.Helper()
	s.c.run(tb, "pg_ctl", "-D", s.Dir, "-w", "-t", "60", "promote")
}

// Log returns what the server logged, for a failing test.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.c.dir, s.Name+".log"))
	return string(b)
}

// WaitStreaming waits until the primary sees the standby streaming (and,
// with synchronous replication, in sync), so that a commit after it is
// replicated as Options say.
func (c *Cluster) WaitStreaming(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.Primary.DSN())
		if err == nil {
			var n int
			err = conn.QueryRow(ctx, `SELECT COUNT(*) FROM pg_stat_replication WHERE state = 'streaming'`).Scan(&n)
			conn.Close(ctx)
			if err == nil && n > 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("the standby never streamed from the primary (%v)\nprimary log:\n%s\nstandby log:\n%s", err, c.Primary.Log(), c.Standby.Log())
		case <-time.After(100 * time.Millisecond): // waiting for the walreceiver to connect
		}
	}
}

func (c *Cluster) appendConf(tb testing.TB, s *Server, conf string) {
	tb.Helper()
	f, err := os.OpenFile(filepath.Join(s.Dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(conf); err != nil {
		tb.Fatal(err)
	}
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGTZ=UTC")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

func (c *Cluster) run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	if out, err := c.command(name, args...).CombinedOutput(); err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// findBin finds the directory of initdb, pg_ctl and pg_basebackup:
// SLOKEEPER_TEST_PG_BIN, the newest /usr/lib/postgresql/<version>/bin
// (Debian's, as scripts/ensure-services installs it), or the PATH.
func findBin() (string, error) {
	if d := os.Getenv("SLOKEEPER_TEST_PG_BIN"); d != "" {
		return d, checkBin(d)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if checkBin(d) == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		return d, checkBin(d)
	}
	return "", fmt.Errorf("no initdb in SLOKEEPER_TEST_PG_BIN, /usr/lib/postgresql/*/bin or the PATH")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func checkBin(d string) error {
	for _, name := range []string{"initdb", "pg_ctl", "pg_basebackup", "postgres"} {
		if _, err := os.Stat(filepath.Join(d, name)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
