package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"slokeeper"
	"slokeeper/internal/httpserver"
	"slokeeper/internal/logstore"
	"slokeeper/internal/reconcile"
	"slokeeper/internal/sqlite"
)

// drillScratch returns the scratch areas restore drills restore into:
// each an empty data directory under dir (a log store and an SQLite
// database, as "backup restore --all" makes), removed after the drill.
// Account items stay encrypted under their keys there.
func drillScratch(dir string, loc *time.Location) func(ctx context.Context) (reconcile.Destination, func(), error) {
	return func(ctx context.Context) (reconcile.Destination, func(), error) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return reconcile.Destination{}, nil, err
		}
		into, err := os.MkdirTemp(dir, "drill-")
		if err != nil {
			return reconcile.Destination{}, nil, err
		}
		db, err := sqlite.Open(ctx, filepath.Join(into, "slokeeper.db"))
		if err != nil {
			os.RemoveAll(into)
			return reconcile.Destination{}, nil, err
		}
		logs, err := logstore.Open(ctx, logstore.Config{Dir: filepath.Join(into, "logs"), Catalog: sqlite.NewLogCatalog(db), Location: loc})
		if err != nil {
			db.Close()
			os.RemoveAll(into)
			return reconcile.Destination{}, nil, err
		}
		return reconcile.Destination{Logs: logs, Accounts: sqlite.NewAccountService(db)}, func() {
			logs.Close()
			db.Close()
			os.RemoveAll(into)
		}, nil
	}
}

// Drill runs a restore drill now on the node's executor.
func (l lifecycleService) Drill(ctx context.Context, req httpserver.DrillRequest) ([]httpserver.DrillItem, error) {
	e, err := l.exec()
	if err != nil {
		return nil, err
	}
	res, err := e.Drill(ctx, reconcile.DrillRequest{Class: req.Class, Sample: req.Sample, Seed: req.Seed})
	if err != nil && len(res) == 0 {
		return nil, err
	}
	out := make([]httpserver.DrillItem, 0, len(res))
	for _, r := range res {
		out = append(out, httpserver.DrillItem{Class: r.Class, Backup: r.Backup, Subject: r.Subject, Seed: r.Seed, OK: r.OK,
			Cause: passError(fmt.Errorf("%s", r.Cause)), Records: r.Records, DurationMS: r.DurationMS})
		if r.OK {
			out[len(out)-1].Cause = ""
		}
	}
	return out, nil
}

var _ httpserver.Driller = lifecycleService{}

// backupDrillAPI is "backup drill" through the server's API.
func backupDrillAPI(ctx context.Context, c *apiClient, req httpserver.DrillRequest, lang string, stdout io.Writer) error {
	var out struct {
		Drills []httpserver.DrillItem `json:"drills"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/v1/backups/drills", req, &out); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if lang == "en" {
		fmt.Fprintln(tw, "CLASS\tBACKUP\tOUTCOME\tRECORDS\tDURATION\tSEED\tCAUSE")
	} else {
		fmt.Fprintln(tw, "区分\tバックアップ\t結果\t件数\t所要時間\tシード\t原因")
	}
	failed := 0
	for _, d := range out.Drills {
		outcome := map[bool][2]string{true: {"成功", "ok"}, false: {"失敗", "failed"}}[d.OK][langIndex(lang)]
		if !d.OK {
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\n", d.Class, d.Subject, outcome, d.Records, time.Duration(d.DurationMS)*time.Millisecond, d.Seed, d.Cause)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed > 0 {
		return slokeeper.Errorf(slokeeper.ECONFLICT, "%d of %d restore drills failed; the evidence records why (slokeeper evidence list).", failed, len(out.Drills))
	}
	return nil
}
