package main

import (
	"context"
	"time"

	"slokeeper"
	"slokeeper/internal/backup"
	"slokeeper/internal/httpserver"
	"slokeeper/internal/jobs"
	"slokeeper/internal/reconcile"
	"slokeeper/lifecycle"
)

// lifecycleService is the running node's lifecycle engine and backup
// catalog as the HTTP server sees them: the same executor and job queue
// the lifecycle job and "slokeeper lifecycle run" use.
type lifecycleService struct{ m *Main }

var _ httpserver.Lifecycle = lifecycleService{}

// exec is the node's executor; Run sets it once the server listens, so a
// request in the first moments is told to try again.
func (l lifecycleService) exec() (*reconcile.Executor, error) {
	if l.m.Lifecycle == nil {
		return nil, slokeeper.Errorf(slokeeper.ECONFLICT, "The lifecycle engine is still starting; try again in a moment.")
	}
	return l.m.Lifecycle, nil
}

func (l lifecycleService) Plan(ctx context.Context, at time.Time) ([]lifecycle.Action, error) {
	e, err := l.exec()
	if err != nil {
		return nil, err
	}
	return e.Plan(ctx, at)
}

func (l lifecycleService) Backups(ctx context.Context, f slokeeper.BackupFilter) ([]*slokeeper.BackupRecord, error) {
	return l.m.Store.Backups.FindBackups(ctx, f)
}

func (l lifecycleService) Sets(ctx context.Context, at time.Time) ([]lifecycle.Set, error) {
	e, err := l.exec()
	if err != nil {
		return nil, err
	}
	return e.Sets(ctx, at)
}

func (l lifecycleService) VerifyBackup(ctx context.Context, id string) (*slokeeper.BackupRecord, error) {
	e, err := l.exec()
	if err != nil {
		return nil, err
	}
	if _, err := verifyBackup(ctx, e, id); err != nil {
		return nil, err
	}
	recs, err := l.m.Store.Backups.FindBackups(ctx, slokeeper.BackupFilter{ID: id, IncludeErased: true, SkipManifest: true})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "No backup %q in the catalog.", id)
	}
	return recs[0], nil
}

// verifyBackup reads a cataloged backup back and checks everything, with
// evidence either way: "backup verify" and the server's verify. A backup
// that does not verify is a conflict whose message says why (redacted),
// not an internal error: staff act on the cause.
func verifyBackup(ctx context.Context, e *reconcile.Executor, id string) (*backup.Manifest, error) {
	man, err := e.Manifest(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := e.Verify(ctx, man, time.Time{}); err != nil {
		if slokeeper.ErrorCode(err) != slokeeper.EINTERNAL {
			return nil, err
		}
		return nil, slokeeper.Errorf(slokeeper.ECONFLICT, "Backup %s did not verify: %s. The evidence records it.", id, passError(err))
	}
	return man, nil
}

func (l lifecycleService) RequestPass(ctx context.Context) (*httpserver.PassJob, error) {
	q, err := l.m.Store.NewQueue()
	if err != nil {
		return nil, err
	}
	j, err := q.RequestLifecycle(ctx)
	if err != nil {
		return nil, err
	}
	return passJob(j), nil
}

func (l lifecycleService) Pass(ctx context.Context, id int64) (*httpserver.PassJob, error) {
	q, err := l.m.Store.NewQueue()
	if err != nil {
		return nil, err
	}
	j, err := q.LifecycleJob(ctx, id)
	if err != nil {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "No lifecycle run %d on the job queue.", id)
	}
	return passJob(j), nil
}

func passJob(j jobs.LifecycleJob) *httpserver.PassJob {
	return &httpserver.PassJob{ID: j.ID, Joined: j.Joined, State: j.State, Started: j.Started, Finished: j.Finished, Report: j.Output, Errors: j.Errors}
}
