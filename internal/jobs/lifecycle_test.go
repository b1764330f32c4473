package jobs_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"slokeeper/internal/jobs"
	"slokeeper/internal/postgres"
	"slokeeper/internal/sqlite"
	"slokeeper/internal/storetest"
)

func TestRequestLifecycleSQLite(t *testing.T) {
	db := openSQLite(t)
	cfg := jobs.Config{Evidence: sqlite.NewEvidenceService(db), Ready: db.Ready, Node: "test-node"}
	testRequestLifecycle(t, cfg,
		func(cfg jobs.Config) (*jobs.Runner, error) {
			return jobs.NewSQLite(context.Background(), db.Writer(), cfg)
		},
		func() (*jobs.Queue, error) { return jobs.NewSQLiteQueue(db.Writer()) })
}

func TestRequestLifecyclePostgres(t *testing.T) {
	db, err := postgres.Open(context.Background(), storetest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := jobs.Config{Evidence: postgres.NewEvidenceService(db), Ready: db.Ready, Node: "test-node"}
	testRequestLifecycle(t, cfg,
		func(cfg jobs.Config) (*jobs.Runner, error) {
			return jobs.NewPostgres(context.Background(), db.Pool(), cfg)
		},
		func() (*jobs.Queue, error) { return jobs.NewPostgresQueue(db.Pool()) })
}

// testRequestLifecycle: a runner with no periodic pass (interval 0) works
// requested passes; a request while one runs joins it instead of queueing
// a second pass beside it; the pass's output reaches the requester.
func testRequestLifecycle(t *testing.T, cfg jobs.Config, newRunner func(jobs.Config) (*jobs.Runner, error), newQueue func() (*jobs.Queue, error)) {
	ctx := context.Background()
	var passes atomic.Int32
	started, release := make(chan struct{}, 4), make(chan struct{})
	cfg.LifecycleInterval = 0
	cfg.Lifecycle = func(ctx context.Context) (any, error) {
		n := passes.Add(1)
		started <- struct{}{}
		<-release
		return map[string]int32{"pass": n}, nil
	}
	r, err := newRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		r.Stop(sctx)
	})
	q, err := newQueue()
	if err != nil {
		t.Fatal(err)
	}
	first, err := q.RequestLifecycle(ctx)
	if err != nil || first.Joined {
		t.Fatalf("first request = %+v, %v", first, err)
	}
	select { // the worker has the job: waiting for it, bounded
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the requested pass did not start within 30s")
	}
	second, err := q.RequestLifecycle(ctx)
	if err != nil || !second.Joined || second.ID != first.ID {
		t.Fatalf("request while a pass runs = %+v, %v; want to join job %d", second, err, first.ID)
	}
	close(release)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var states []string
	done, err := q.WaitLifecycle(wctx, first.ID, 10*time.Millisecond, func(j jobs.LifecycleJob) { states = append(states, j.State) })
	if err != nil || !done.OK() || done.Finished.IsZero() {
		t.Fatalf("WaitLifecycle = %+v, %v", done, err)
	}
	var out map[string]int32
	if err := json.Unmarshal(done.Output, &out); err != nil || out["pass"] != 1 {
		t.Errorf("output = %s (%v), want pass 1", done.Output, err)
	}
	if len(states) == 0 || states[len(states)-1] != "completed" {
		t.Errorf("progress saw states %v", states)
	}
	// Once it has ended, a request queues a new pass.
	third, err := q.RequestLifecycle(ctx)
	if err != nil || third.Joined || third.ID == first.ID {
		t.Fatalf("request after the pass = %+v, %v", third, err)
	}
	if done, err := q.WaitLifecycle(wctx, third.ID, 10*time.Millisecond, nil); err != nil || !done.OK() {
		t.Fatalf("third pass: %+v %v", done, err)
	}
	if n := passes.Load(); n != 2 {
		t.Errorf("%d passes ran, want 2", n)
	}
}
