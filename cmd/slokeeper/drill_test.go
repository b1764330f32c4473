package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/sqlite"
	"slokeeper/internal/storetest"
	"slokeeper/internal/vault"
)

// TestDisasterRecoveryDrill: the database and the data directory are lost;
// the backup target, the key store and the master key are not. From them
// alone, catalog rebuild and restore --all bring back every log record and
// every account as it was: a deletion under way stays under way, a deleted
// account stays deleted. With the newest backup of an account gone from
// the target, the next older one is restored and the report says so.
func TestDisasterRecoveryDrill(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { testDrill(t, func() string { return "" }) })
	t.Run("PostgreSQL", func(t *testing.T) { testDrill(t, func() string { return storetest.PostgresDSN(t) }) })
}

type drillAccount struct {
	Status        string
	DeletionDueAt time.Time
	Items         []string // kind/key size updated ciphertext
}

func drillState(t *testing.T, ctx context.Context, accounts slokeeper.AccountService) map[string]drillAccount {
	t.Helper()
	as, err := accounts.FindAccounts(ctx, slokeeper.AccountFilter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]drillAccount{}
	for _, a := range as {
		items, err := accounts.SnapshotAccountItems(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		d := drillAccount{Status: a.Status, DeletionDueAt: a.DeletionDueAt.UTC()}
		for _, it := range items {
			d.Items = append(d.Items, fmt.Sprintf("%s/%s %d %s %x", it.Kind, it.Key, it.Size, it.UpdatedAt.UTC().Format(time.RFC3339Nano), it.Ciphertext))
		}
		slices.Sort(d.Items)
		out[a.ID] = d
	}
	return out
}

func testDrill(t *testing.T, dsn func() string) {
	ctx := context.Background()
	cfg := testConfig()
	cfg.Data, cfg.DB = t.TempDir(), dsn()
	cfg.BackupTarget = filepath.Join(t.TempDir(), "target") // off the data directory, as it would be
	clock := newTestClock(time.Date(2026, 11, 10, 1, 0, 0, 0, time.UTC))
	m := NewMain(cfg, io.Discard)
	m.Clock = clock
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	admin := vault.Actor{Operator: &slokeeper.Operator{Name: "drill", Role: slokeeper.RoleAdmin}, Label: "operator:drill"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	put := func(account, kind, key, value string) {
		t.Helper()
		_, err := m.Vault.PutItem(ctx, admin, account, kind, key, []byte(value))
		must(err)
	}
	logDay := func(n int) {
		t.Helper()
		recs := make([]slokeeper.LogRecord, n)
		for i := range recs {
			recs[i] = slokeeper.LogRecord{SourceKind: "cloud", SourceID: "api-1", Level: "info", Message: fmt.Sprintf("request %d 日本語", i)}
		}
		_, err := m.Logs.AppendLogs(ctx, "system", recs, "")
		must(err)
		clock.Add(24 * time.Hour)
		_, err = m.Logs.SealDue(ctx)
		must(err)
	}
	pass := func() {
		t.Helper()
		res, err := m.Lifecycle.Run(ctx)
		if err != nil {
			t.Fatalf("lifecycle pass: %v %+v", err, res)
		}
	}
	for _, a := range [][2]string{{"farm", "農場 D"}, {"gone", "Gone Ltd"}, {"leaving", "去る株式会社"}} {
		_, err := m.Vault.CreateAccount(ctx, admin, a[0], a[1])
		must(err)
	}
	put("farm", slokeeper.ItemDocument, "flow", `{"nodes":[1,2]}`)
	put("farm", slokeeper.ItemData, "threshold", "41")
	put("gone", slokeeper.ItemCredential, "mqtt", "s3cret")
	put("leaving", slokeeper.ItemData, "k", "v")
	logDay(200)
	pass() // backs up system/2026-11-10 and every account
	_, err := m.Vault.RequestDeletion(ctx, admin, "gone")
	must(err)
	put("farm", slokeeper.ItemData, "threshold", "42")
	logDay(150)
	pass()
	clock.Add(8 * 24 * time.Hour) // gone's cancel window is over
	pass()
	_, err = m.Vault.RequestDeletion(ctx, admin, "leaving")
	must(err)
	clock.Add(time.Hour)
	pass()
	if _, err := m.Lifecycle.Backup(ctx, "user", "farm", "2026-11-20", time.Time{}); err != nil {
		t.Fatal(err)
	}
	older := drillState(t, ctx, m.Store.Accounts)["farm"]
	clock.Add(time.Minute)
	put("farm", slokeeper.ItemData, "late", "written after the older snapshot")
	newest, err := m.Lifecycle.Backup(ctx, "user", "farm", "2026-11-20", time.Time{})
	must(err)

	want := drillState(t, ctx, m.Store.Accounts)
	if want["gone"].Status != slokeeper.AccountDeleted || want["leaving"].Status != slokeeper.AccountDeleting || len(want["gone"].Items) != 0 {
		t.Fatalf("the original is not what the drill needs: %+v", want)
	}
	// The drill's records (slokeeper's own logs of the day not yet sealed are in no backup).
	wantLogs, stderr, code := cliRun(t, "logs", "query", "--data", cfg.Data, "--db", cfg.DB, "--limit", "0", "--source", "api-1")
	if code != 0 || strings.Count(wantLogs, "\n") != 350 {
		t.Fatalf("original logs: exit %d, %d lines %s", code, strings.Count(wantLogs, "\n"), stderr)
	}
	must(m.Close(ctx))

	// The disaster: everything but the key store and the master key is lost.
	entries, err := os.ReadDir(cfg.Data)
	must(err)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "keys.db") && e.Name() != "master.key" {
			must(os.RemoveAll(filepath.Join(cfg.Data, e.Name())))
		}
	}
	cfg.DB = dsn() // a fresh database
	args := func(more ...string) []string {
		return append(more, "--data", cfg.Data, "--db", cfg.DB, "--backup-target", cfg.BackupTarget)
	}
	out, stderr, code := cliRun(t, args("backup", "catalog", "rebuild")...)
	if code != 0 || !strings.Contains(out, "3 accounts recreated from the target's account states: 1 active, 1 with a deletion under way, 1 deleted") {
		t.Fatalf("catalog rebuild: exit %d\n%s%s", code, out, stderr)
	}
	restore := func(into string) (string, string, map[string]drillAccount) {
		t.Helper()
		out, stderr, code := cliRun(t, args("backup", "restore", "--all", "--into", into)...)
		if code != 0 {
			t.Fatalf("restore --all: exit %d\n%s%s", code, out, stderr)
		}
		db, err := sqlite.Open(ctx, filepath.Join(into, "slokeeper.db"))
		must(err)
		defer db.Close()
		got := drillState(t, ctx, sqlite.NewAccountService(db))
		gotLogs, stderr2, code := cliRun(t, "logs", "query", "--data", into, "--limit", "0", "--source", "api-1")
		if code != 0 || gotLogs != wantLogs {
			t.Errorf("restored logs (exit %d %s): %d lines, want the original's %d", code, stderr2, strings.Count(gotLogs, "\n"), strings.Count(wantLogs, "\n"))
		}
		return out, stderr, got
	}
	into := filepath.Join(t.TempDir(), "new")
	out, stderr, got := restore(into)
	// Two days of the drill's records, and a third of slokeeper's own logs
	// when a pass logged on a later day (the restored records are compared
	// below, source by source).
	if !regexp.MustCompile(`restored [23] log days \(`).MatchString(out) || !strings.Contains(out, "and 2 accounts (4 items)") || !strings.Contains(out, "recreated 1 accounts without data") {
		t.Errorf("restore --all:\n%s%s", out, stderr)
	}
	for id, w := range want {
		if g := got[id]; g.Status != w.Status || !g.DeletionDueAt.Equal(w.DeletionDueAt) || !slices.Equal(g.Items, w.Items) {
			t.Errorf("account %s restored as %+v, want %+v", id, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("restored accounts %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}

	// The newest snapshot of farm is gone from the target: the older one is used.
	must(os.Remove(filepath.Join(cfg.BackupTarget, newest.Object)))
	out, stderr, got = restore(filepath.Join(t.TempDir(), "new"))
	if !strings.Contains(stderr, "account:farm: backup "+newest.ID) || !strings.Contains(stderr, "account:farm: restored from the older backup") {
		t.Errorf("the report does not say the newest backup was missing and an older one used:\n%s%s", out, stderr)
	}
	if g := got["farm"]; !slices.Equal(g.Items, older.Items) {
		t.Errorf("farm restored from the older backup as %v, want %v", g.Items, older.Items)
	}
}
