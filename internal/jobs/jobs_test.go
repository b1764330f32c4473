package jobs_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/jobs"
	"slokeeper/internal/postgres"
	"slokeeper/internal/sqlite"
	"slokeeper/internal/storetest"
)

func openSQLite(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "slokeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSelfCheckRunOnce(t *testing.T) {
	due := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		now     time.Time
		ready   error
		outcome string
	}{
		{"OK", due.Add(time.Second), nil, slokeeper.OutcomeOK},
		{"Late", due.Add(6 * time.Minute), nil, slokeeper.OutcomeLate},
		{"Failed", due.Add(time.Second), slokeeper.Errorf(slokeeper.EUNAVAILABLE, "The database does not answer."), slokeeper.OutcomeFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openSQLite(t)
			ev := sqlite.NewEvidenceService(db)
			check := &jobs.SelfCheck{
				Evidence: ev,
				Ready:    func(context.Context) error { return tt.ready },
				Clock:    slokeeper.ClockFunc(func() time.Time { return tt.now }),
				Node:     "node-a",
				Interval: 5 * time.Minute,
			}
			if err := check.RunOnce(context.Background(), due); err != nil {
				t.Fatal(err)
			}
			got, _, err := ev.FindEvidence(context.Background(), slokeeper.EvidenceFilter{})
			if err != nil || len(got) != 1 {
				t.Fatalf("evidence: %v %v", got, err)
			}
			e := got[0]
			if e.Outcome != tt.outcome || !e.At.Equal(tt.now) || !e.Deadline.Equal(due.Add(5*time.Minute)) ||
				e.Clause != "availability" || e.Action != "self_check" || e.Node != "node-a" {
				t.Errorf("evidence = %+v, want outcome %s at %s", e, tt.outcome, tt.now)
			}
			if tt.ready != nil && e.Detail != "store not ready: The database does not answer." {
				t.Errorf("detail = %q", e.Detail)
			}
		})
	}
}

// periodicConfig is cfg with a periodic lifecycle pass that reports on
// ran when the leader's schedule runs it (at start).
func periodicConfig(cfg jobs.Config, ran chan<- string) jobs.Config {
	cfg.LifecycleInterval = time.Hour
	cfg.Lifecycle = func(context.Context) (any, error) {
		select {
		case ran <- cfg.Node:
		default:
		}
		return nil, nil
	}
	return cfg
}

// runRunner starts r and waits for its periodic pass: it waits for work
// on another goroutine to finish, not for time to pass.
func runRunner(t *testing.T, r *jobs.Runner, ran <-chan string) {
	t.Helper()
	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case node := <-ran:
		if node != "test-node" {
			t.Errorf("the periodic pass ran on %q, want test-node", node)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the periodic pass did not run within 30s")
	}
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.Stop(stopCtx); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

func TestRunnerSQLite(t *testing.T) {
	db := openSQLite(t)
	ev := sqlite.NewEvidenceService(db)
	ran := make(chan string, 1)
	cfg := periodicConfig(jobs.Config{Evidence: ev, Ready: db.Ready, Node: "test-node"}, ran)
	r, err := jobs.NewSQLite(context.Background(), db.Writer(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	runRunner(t, r, ran)
	// A restart on the same database finds River's tables migrated.
	if _, err := jobs.NewSQLite(context.Background(), db.Writer(), cfg); err != nil {
		t.Errorf("second NewSQLite: %v", err)
	}
}

func TestRunnerPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ev := postgres.NewEvidenceService(db)
	ran := make(chan string, 1)
	cfg := periodicConfig(jobs.Config{Evidence: ev, Ready: db.Ready, Node: "test-node"}, ran)
	// Two nodes migrating at once: the advisory lock lets each finish.
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := jobs.NewPostgres(context.Background(), db.Pool(), cfg)
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent NewPostgres: %v", err)
		}
	}
	r, err := jobs.NewPostgres(context.Background(), db.Pool(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	runRunner(t, r, ran)
}
