package reconcile_test

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/backup"
	"slokeeper/internal/blob"
	"slokeeper/internal/blob/blobtest"
	"slokeeper/internal/reconcile"
	"slokeeper/internal/sqlite"
	"slokeeper/lifecycle"
	"slokeeper/policy"
)

// netFault is a TCP proxy in front of a real S3 server, so that the real
// client meets real network failures: Close makes the port refuse
// connections (the target down), Stall makes it accept connections and
// never answer (a target that hangs).
type netFault struct {
	l        net.Listener
	upstream string
	stall    atomic.Bool
	mu       sync.Mutex
	conns    []net.Conn
}

func newNetFault(t *testing.T, upstream string) *netFault {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &netFault{l: l, upstream: upstream}
	go f.serve()
	t.Cleanup(f.Close)
	return f
}

func (f *netFault) serve() {
	for {
		c, err := f.l.Accept()
		if err != nil {
			return
		}
		f.track(c)
		if f.stall.Load() {
			go io.Copy(io.Discard, c) // read the request, never answer
			continue
		}
		up, err := net.Dial("tcp", f.upstream)
		if err != nil {
			c.Close()
			continue
		}
		f.track(up)
		go func() { io.Copy(up, c); up.Close() }()
		go func() { io.Copy(c, up); c.Close() }()
	}
}

func (f *netFault) track(c net.Conn) {
	f.mu.Lock()
	f.conns = append(f.conns, c)
	f.mu.Unlock()
}

// drop closes every connection so far: the client's pooled ones too.
func (f *netFault) drop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

// Stall makes the target accept connections and never answer.
func (f *netFault) Stall() { f.stall.Store(true); f.drop() }

// Close closes the port: connections are refused.
func (f *netFault) Close() { f.l.Close(); f.drop() }

// s3Behind returns a real S3 target reached through a netFault.
func s3Behind(t *testing.T) (*blob.S3, *netFault) {
	t.Helper()
	url := blobtest.S3Server(t)
	at := strings.Index(url, "@") + 1
	slash := at + strings.Index(url[at:], "/")
	f := newNetFault(t, url[at:slash])
	s, err := blob.OpenS3(context.Background(), url[:at]+f.l.Addr().String()+url[slash:])
	if err != nil {
		t.Fatal(err)
	}
	return s, f
}

// execOn returns an executor of w's stores backing up to target.
func execOn(w *world, target slokeeper.BlobStore, cfg reconcile.Config) *reconcile.Executor {
	cfg.Policy, cfg.Logs, cfg.Clock, cfg.Node = w.Policy, w.Logs, w.Clock, "test"
	cfg.Backups = backup.New(backup.Config{Target: target, Logs: w.Logs, Sealer: w.Keys, Accounts: w.Accounts, Crypto: w.Keys,
		Expiry: reconcile.Expiry(w.Policy), Clock: w.Clock})
	cfg.Catalog, cfg.Evidence = sqlite.NewBackupCatalog(w.DB), sqlite.NewEvidenceService(w.DB)
	cfg.Accounts, cfg.Keys, cfg.Vault = w.Accounts, w.Keys, w.Vault
	return reconcile.New(cfg)
}

// runBounded runs a pass, failing the test if it has not ended in limit:
// a pass whose target hangs must end by its own timeouts.
func runBounded(t *testing.T, e *reconcile.Executor, limit time.Duration) ([]reconcile.Result, error) {
	t.Helper()
	type ran struct {
		res []reconcile.Result
		err error
	}
	done := make(chan ran, 1)
	go func() { res, err := e.Run(context.Background()); done <- ran{res, err} }()
	select {
	case r := <-done:
		return r.res, r.err
	case <-time.After(limit):
		t.Fatalf("the pass did not end within %s", limit)
		return nil, nil
	}
}

// outcomes counts a pass's results by kind and outcome.
func outcomes(res []reconcile.Result) map[string]int {
	n := map[string]int{}
	for _, r := range res {
		n[r.Kind+" "+r.Outcome]++
	}
	return n
}

// TestTargetDownErasuresGoOn: backups made to a real S3 target, then the
// target goes down (its port refuses connections). The next pass still
// erases the originals past their ceiling that are backed up, erases the
// deleted account's data and destroys its key, each with evidence; the
// backups fail, each with evidence naming the target's real error.
func TestTargetDownErasuresGoOn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, t.TempDir(), policy.Default(), time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC))
	w.People.Live = 2
	s3, fault := s3Behind(t)
	up := execOn(w, s3, reconcile.Config{})
	for range 3 {
		w.day()
		if _, err := up.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	gone := w.People.Active()[0]
	if err := w.RequestDeletion(ctx, gone, time.Time{}); err != nil {
		t.Fatal(err)
	}
	fault.Close()
	w.day()                          // one more day, not backed up
	w.Clock.Add(31 * 24 * time.Hour) // the first days' exec originals past their ceiling
	down := execOn(w, s3, reconcile.Config{ActionTimeout: 20 * time.Second})
	res, err := runBounded(t, down, 5*time.Minute)
	if err == nil {
		t.Error("a pass with the target down reported no failure")
	}
	n := outcomes(res)
	done := func(kind string) int { return n[kind+" "+slokeeper.OutcomeOK] + n[kind+" "+slokeeper.OutcomeLate] }
	if done(lifecycle.EraseOriginal) < 3 || done(lifecycle.EraseAccount) != 1 || done(lifecycle.DestroyKey) != 1 || n[lifecycle.Backup+" "+slokeeper.OutcomeFailed] < 2 {
		t.Errorf("pass with the target down: %v (%v)", n, err)
	}
	es := sqlite.NewEvidenceService(w.DB)
	for _, action := range []string{"erase_original", "erase_account", "destroy_key"} {
		ev, _, _ := es.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: action, Outcome: slokeeper.OutcomeLate}) // late: passes were skipped
		if len(ev) == 0 || strings.Contains(ev[0].Detail, "interlock") {
			t.Errorf("no evidence of %s with the target down: %+v", action, ev)
		}
	}
	for _, action := range []string{"backup", "erase_backup"} {
		ev, _, _ := es.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: action, Outcome: slokeeper.OutcomeFailed})
		if len(ev) == 0 {
			t.Errorf("no evidence of the failed %s", action)
		}
		for _, e := range ev {
			if !strings.Contains(e.Detail, "connection refused") || strings.Contains(e.Detail, "Internal error") {
				t.Errorf("%s %s failed, evidence without its cause: %q", action, e.Subject, e.Detail)
			}
		}
	}
}

// TestStalledTargetPassEnds: a target that accepts connections and never
// answers does not hold the pass: each action ends at its timeout, with
// evidence saying so, and the erasures that need no target are done.
func TestStalledTargetPassEnds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, t.TempDir(), policy.Default(), time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC))
	s3, fault := s3Behind(t)
	if _, err := execOn(w, s3, reconcile.Config{}).Run(ctx); err != nil { // adopts: nothing yet
		t.Fatal(err)
	}
	w.day()
	if _, err := execOn(w, s3, reconcile.Config{}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	fault.Stall()
	w.day()
	w.Clock.Add(31 * 24 * time.Hour)
	stalled := execOn(w, s3, reconcile.Config{ActionTimeout: 2 * time.Second}) // a new process: it lists the manifests first
	res, err := runBounded(t, stalled, 2*time.Minute)
	n := outcomes(res)
	if err == nil || n[lifecycle.EraseOriginal+" "+slokeeper.OutcomeLate] != 1 || n[lifecycle.Backup+" "+slokeeper.OutcomeFailed] != 2 {
		t.Errorf("pass with the target stalled: %v (%v)", n, err)
	}
	ev, _, _ := sqlite.NewEvidenceService(w.DB).FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "backup", Outcome: slokeeper.OutcomeFailed})
	if len(ev) != 2 || !strings.Contains(ev[0].Detail, "timed out") {
		t.Errorf("backup failures' evidence: %+v", ev)
	}
}

// TestStrayManifestSkipped: an object under manifests/ that is not a
// manifest is reported once, as evidence, and the rest of the work goes on.
func TestStrayManifestSkipped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	w := newWorld(t, dir, policy.Default(), time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC))
	w.day()
	stray := filepath.Join(dir, "backups", "manifests", "logs", "exec", "2026-12-01", "notes.json")
	if err := os.MkdirAll(filepath.Dir(stray), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stray, []byte("not JSON, an operator's notes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := w.Exec.Run(ctx)
	if n := outcomes(res); n[lifecycle.Backup+" "+slokeeper.OutcomeOK] != 2 {
		t.Fatalf("a stray manifest stopped the work: %v (%v)", n, err)
	}
	w.day()
	w.Target.Down.Store(true) // a failed backup: the next pass lists the manifests again
	w.Exec.Run(ctx)
	w.Target.Down.Store(false)
	w.Clock.Add(time.Hour)
	if _, err := w.Exec.Run(ctx); err != nil {
		t.Fatal(err)
	}
	ev, _, _ := sqlite.NewEvidenceService(w.DB).FindEvidence(ctx, slokeeper.EvidenceFilter{Action: "adopt"})
	if len(ev) != 1 || ev[0].Outcome != slokeeper.OutcomeFailed || !strings.Contains(ev[0].Subject, "notes.json") || ev[0].Clause != policy.ClauseExecLogs {
		t.Errorf("the stray manifest's evidence (want it once): %+v", ev)
	}
	w.check(true)
}
