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

// waitForEvidence waits for the job queue to record self-check evidence.
// It waits for work on another goroutine to finish, not for time to pass.
func waitForEvidence(t *testing.T, ev slokeeper.EvidenceService) *slokeeper.Evidence {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		got, _, err := ev.FindEvidence(context.Background(), slokeeper.EvidenceFilter{Action: "self_check"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 {
			return got[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the periodic self-check recorded no evidence within 30s")
	return nil
}

func runRunner(t *testing.T, r *jobs.Runner, ev slokeeper.EvidenceService) {
	t.Helper()
	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e := waitForEvidence(t, ev)
	if e.Outcome != slokeeper.OutcomeOK || e.Node != "test-node" {
		t.Errorf("self-check evidence = %+v, want ok from test-node", e)
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
	cfg := jobs.Config{Evidence: ev, Ready: db.Ready, Node: "test-node"}
	r, err := jobs.NewSQLite(context.Background(), db.Writer(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	runRunner(t, r, ev)
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
	cfg := jobs.Config{Evidence: ev, Ready: db.Ready, Node: "test-node"}
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
	runRunner(t, r, ev)
}
