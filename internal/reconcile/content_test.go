package reconcile_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/reconcile"
	"slokeeper/internal/sqlite"
	"slokeeper/lifecycle"
	"slokeeper/policy"
)

// TestResealedDayBackedUpAgain: a day backed up with 5 records is sealed
// again with 65 (another node's records migrated in). The old backup does
// not cover it: the next pass backs the new content up and verifies it,
// keeps the old copy, and the evidence names the content each holds.
func TestResealedDayBackedUpAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC) // 2026-12-01 03:00 JST
	w := newWorld(t, t.TempDir(), policy.Default(), start)
	other := newWorld(t, t.TempDir(), policy.Default(), start)
	if err := w.Day(ctx, map[string]int{"exec": 5}, w.rng); err != nil {
		t.Fatal(err)
	}
	if err := other.Day(ctx, map[string]int{"exec": 65}, w.rng); err != nil {
		t.Fatal(err)
	}
	const day = "2026-12-01"
	res, err := w.Exec.Run(ctx)
	if err != nil || count(res, lifecycle.Backup) != 1 {
		t.Fatalf("first pass: %+v, %v", res, err)
	}
	// The day sealed again with other content.
	var buf bytes.Buffer
	if _, err := other.Logs.Export(ctx, "exec", day, &buf); err != nil {
		t.Fatal(err)
	}
	if err := w.Logs.Drop(ctx, "exec", day); err != nil {
		t.Fatal(err)
	}
	info, err := w.Logs.Import(ctx, &buf)
	if err != nil || info.Records != 65 {
		t.Fatalf("re-seal: %+v, %v", info, err)
	}
	plan, err := w.Exec.Plan(ctx, w.Clock.Now())
	if err != nil || len(plan) != 1 || plan[0].Kind != lifecycle.Backup || !strings.Contains(plan[0].Reason.EN, "(5 records, sha256:") {
		t.Fatalf("plan after the re-seal: %+v, %v", plan, err)
	}
	res, err = w.Exec.Run(ctx)
	if err != nil || count(res, lifecycle.Backup) != 1 {
		t.Fatalf("pass after the re-seal: %+v, %v", res, err)
	}
	recs, err := sqlite.NewBackupCatalog(w.DB).FindBackups(ctx, slokeeper.BackupFilter{Class: "exec", Day: day, SkipManifest: true})
	if err != nil || len(recs) != 2 {
		t.Fatalf("backups of the day: %+v, %v", recs, err)
	}
	if recs[0].Records == 65 { // both made at the same (frozen) time: order by content
		recs[0], recs[1] = recs[1], recs[0]
	}
	if recs[0].Records != 5 || recs[1].Records != 65 || recs[1].Checksum != info.Checksum || recs[1].VerifiedAt.IsZero() || !recs[0].ErasedAt.IsZero() {
		t.Errorf("backups of the day: old %d records, new %d records %s verified %v (want 5, then 65 of %s verified, the old one kept)",
			recs[0].Records, recs[1].Records, recs[1].Checksum, recs[1].VerifiedAt, info.Checksum)
	}
	inv, err := w.Exec.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sup := lifecycle.Superseded(inv); len(sup) != 1 || sup[0].ID != recs[0].ID {
		t.Errorf("superseded = %+v, want the 5-record copy", sup)
	}
	// Nothing more is due: the new copy covers the day.
	if plan, err := w.Exec.Plan(ctx, w.Clock.Now()); err != nil || len(plan) != 0 {
		t.Errorf("plan once covered: %+v, %v", plan, err)
	}
	ev, _, err := sqlite.NewEvidenceService(w.DB).FindEvidence(ctx, slokeeper.EvidenceFilter{Clause: policy.ClauseExecLogs, Action: "verify"})
	if err != nil {
		t.Fatal(err)
	}
	want := lifecycle.Content(info.Checksum, 65).EN
	found := false
	for _, e := range ev {
		found = found || strings.Contains(e.Detail, want) && strings.Contains(e.Subject, recs[1].ID)
	}
	if !found {
		t.Errorf("no verify evidence of %s naming %q: %+v", recs[1].ID, want, ev)
	}
}

// TestEraseRechecksContent: a day whose erase was planned (a verified
// backup held its content) is sealed again with other content while the
// pass runs; the erase, checked again just before the drop, does not
// happen, and the next pass backs the new content up first.
func TestEraseRechecksContent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC) // 2026-11-30 03:00 JST
	w := newWorld(t, t.TempDir(), policy.Default(), start)
	other := newWorld(t, t.TempDir(), policy.Default(), start)
	// other: 2026-11-30 and 2026-12-01 (65 records); w: 2026-12-01 (5).
	for _, n := range []int{3, 65} {
		if err := other.Day(ctx, map[string]int{"exec": n}, w.rng); err != nil {
			t.Fatal(err)
		}
	}
	w.Clock.Add(24 * time.Hour)
	if err := w.Day(ctx, map[string]int{"exec": 5}, w.rng); err != nil {
		t.Fatal(err)
	}
	if res, err := w.Exec.Run(ctx); err != nil || count(res, lifecycle.Backup) != 1 {
		t.Fatalf("first pass: %+v, %v", res, err)
	}
	move := func(day string) *slokeeper.LogPartition {
		t.Helper()
		var buf bytes.Buffer
		if _, err := other.Logs.Export(ctx, "exec", day, &buf); err != nil {
			t.Fatal(err)
		}
		if err := w.Logs.Drop(ctx, "exec", day); err != nil && slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
			t.Fatal(err)
		}
		info, err := w.Logs.Import(ctx, &buf)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	// 2026-11-30 arrives unbacked-up (its backup, late, comes first in
	// the next pass); during it, 2026-12-01 is sealed again.
	move("2026-11-30")
	w.Clock.Add(32 * 24 * time.Hour) // 2027-01-03 03:00 JST: 2026-12-01 is past its ceiling
	var resealed *slokeeper.LogPartition
	w.Exec.Progress = func(r reconcile.Result) {
		if r.Kind == lifecycle.Backup && r.Day == "2026-11-30" && resealed == nil {
			resealed = move("2026-12-01")
		}
	}
	res, err := w.Exec.Run(ctx)
	if resealed == nil {
		t.Fatalf("the pass backed 2026-11-30 up not first: %+v", res)
	}
	failed := false
	for _, r := range res {
		if r.Kind == lifecycle.EraseOriginal && r.Day == "2026-12-01" {
			failed = r.Err != nil && strings.Contains(r.Detail, "no verified backup holds that content")
		}
	}
	if err == nil || !failed {
		t.Errorf("erase of the re-sealed day: %+v, %v; want it refused", res, err)
	}
	parts, err := w.Logs.LogPartitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kept := false
	for _, p := range parts {
		kept = kept || p.Day == "2026-12-01" && p.Records == 65
	}
	if !kept {
		t.Fatalf("the re-sealed day was erased with no backup of its content: %+v", parts)
	}
	// The next pass (once the failed erase's backoff is over) backs the new content up, then erases.
	w.Clock.Add(10 * time.Minute)
	res, err = w.Exec.Run(ctx)
	if err != nil || count(res, lifecycle.Backup) != 1 || count(res, lifecycle.EraseOriginal) < 1 {
		t.Errorf("next pass: %+v, %v", res, err)
	}
}
