// Package jobs runs slokeeper's background and periodic work on River, on
// either database: jobs are rows in the same database as the data they act
// on, periodic jobs are scheduled by the elected leader only, and every job
// survives a restart.
package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"time"

	"slokeeper"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// Config configures the Runner.
type Config struct {
	// Evidence receives what the jobs did. Required.
	Evidence slokeeper.EvidenceService
	// Ready is what the self-check checks: the store answers and is
	// migrated. Required.
	Ready func(context.Context) error
	// Clock stamps evidence. Default: the system clock.
	Clock slokeeper.Clock
	// Node names this node in evidence. Default: the host name.
	Node string
	// SelfCheckInterval is the schedule a queued self-check job is judged
	// against. Default: 5m. (Nodes check themselves: Heartbeat.)
	SelfCheckInterval time.Duration
	// Lifecycle, if set, is one lifecycle pass; what it returns besides
	// the error is the job's output (JSON), for the command that asked
	// for the pass (Queue.RequestLifecycle). It runs on request, and
	// every LifecycleInterval by the leader's schedule when that is > 0.
	Lifecycle         func(context.Context) (any, error)
	LifecycleInterval time.Duration
	// Logger. Default: slog.Default().
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Clock == nil {
		c.Clock = slokeeper.SystemClock{}
	}
	if c.Node == "" {
		c.Node, _ = os.Hostname()
	}
	if c.SelfCheckInterval <= 0 {
		c.SelfCheckInterval = 5 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// client is the part of river.Client[TTx] the Runner uses, whatever TTx.
type client interface {
	Start(context.Context) error
	Stop(context.Context) error
}

// Runner runs the job queue. Create it with NewSQLite or NewPostgres, then
// Start it; Stop waits for running jobs.
type Runner struct {
	client client
}

// NewSQLite returns a Runner on an SQLite database, migrating River's
// tables first. db must be the single write connection: SQLite has one
// writer, and River's queries must queue behind slokeeper's, not race them.
// Its transactions must be immediate: the migration then runs in one
// transaction that holds the write lock, so processes starting together
// apply it once.
func NewSQLite(ctx context.Context, db *sql.DB, cfg Config) (*Runner, error) {
	driver := riversqlite.New(db)
	m, err := migrator(driver)
	if err != nil {
		return nil, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("job queue migrations: %w", err)
	}
	defer tx.Rollback()
	// MigrateTx is deprecated because some PostgreSQL versions cannot share
	// a transaction; SQLite's DDL has no such limit, and one transaction
	// holding the write lock is what keeps a second process from racing.
	//lint:ignore SA1019 see above
	if _, err := m.MigrateTx(ctx, tx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("job queue migrations: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("job queue migrations: %w", err)
	}
	return newRunner(driver, cfg)
}

// riverMigrationLock is "riverjob" in ASCII: the advisory lock that
// serializes River migrations between nodes.
const riverMigrationLock = 0x72697665726a6f62

// NewPostgres returns a Runner on a PostgreSQL pool, migrating River's
// tables first. Nodes starting together take turns through an advisory
// lock; River applies each version in its own transaction, as PostgreSQL
// requires where a version adds an enum value and then uses it.
func NewPostgres(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Runner, error) {
	driver := riverpgxv5.New(pool)
	m, err := migrator(driver)
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("job queue migrations: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(riverMigrationLock)); err != nil {
		return nil, fmt.Errorf("job queue migrations: %w", err)
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if _, uerr := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(riverMigrationLock)); uerr != nil && err == nil {
		err = uerr
	}
	if err != nil {
		return nil, fmt.Errorf("job queue migrations: %w", err)
	}
	return newRunner(driver, cfg)
}

func migrator[TTx any](driver riverdriver.Driver[TTx]) (*rivermigrate.Migrator[TTx], error) {
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("job queue migrations: %w", err)
	}
	return m, nil
}

func newRunner[TTx any](driver riverdriver.Driver[TTx], cfg Config) (*Runner, error) {
	cfg.defaults()
	check := &SelfCheck{Evidence: cfg.Evidence, Ready: cfg.Ready, Clock: cfg.Clock, Node: cfg.Node, Interval: cfg.SelfCheckInterval}
	workers := river.NewWorkers()
	// The self-check is each node's own now (Heartbeat), not a periodic
	// job the leader schedules for the cluster; the worker stays for the
	// self-check jobs an older version queued.
	river.AddWorker(workers, &selfCheckWorker{check: check})
	var periodic []*river.PeriodicJob
	if cfg.Lifecycle != nil {
		river.AddWorker(workers, &lifecycleWorker{pass: cfg.Lifecycle, log: cfg.Logger.With("component", "lifecycle").Warn})
	}
	if cfg.Lifecycle != nil && cfg.LifecycleInterval > 0 {
		// One pass at a time for the cluster is the pass's own database
		// lock (reconcile.Config.Lock), whichever node works the job: a
		// pass due while another runs waits for it briefly, then ends
		// saying which node holds it. The queue's one worker per node only
		// spares a node a second pass waiting on the first.
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(cfg.LifecycleInterval),
			func() (river.JobArgs, *river.InsertOpts) {
				return LifecycleArgs{}, &river.InsertOpts{Queue: lifecycleQueue, MaxAttempts: 1}
			},
			&river.PeriodicJobOpts{RunOnStart: true}))
	}
	queues := map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}}
	if cfg.Lifecycle != nil {
		queues[lifecycleQueue] = river.QueueConfig{MaxWorkers: 1}
	}
	c, err := river.NewClient(driver, &river.Config{
		Logger:       cfg.Logger.With("component", "jobs"),
		Queues:       queues,
		Workers:      workers,
		PeriodicJobs: periodic,
	})
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	return &Runner{client: c}, nil
}

// Start starts working jobs; the leader also schedules periodic ones.
func (r *Runner) Start(ctx context.Context) error { return r.client.Start(ctx) }

// Stop stops fetching jobs and waits for running ones until ctx ends.
func (r *Runner) Stop(ctx context.Context) error { return r.client.Stop(ctx) }
