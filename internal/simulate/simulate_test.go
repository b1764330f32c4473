package simulate_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"slokeeper/internal/simulate"
	"slokeeper/policy"
)

func total(months []simulate.Month) simulate.Month {
	var t simulate.Month
	for _, m := range months {
		t.Backups += m.Backups
		t.ErasedOrig += m.ErasedOrig
		t.Held += m.Held
		t.Late += m.Late
		t.Failed += m.Failed
	}
	return t
}

// The backup target down for two months: the interlock holds the
// originals whose backups failed, the erasures run late once the target
// returns, and nothing is lost.
func TestSimulateFailureHeldNotLost(t *testing.T) {
	t.Parallel()
	fails := []simulate.Failure{{Kind: "backup", Month: "2027-01"}, {Kind: "backup", Month: "2027-02"}}
	var out bytes.Buffer
	months, err := simulate.Run(context.Background(), simulate.Config{Policy: policy.Default(), Days: 120, Seed: 7, Fail: fails, Lang: "en", Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	tot := total(months)
	if tot.Failed == 0 || tot.Held == 0 || tot.Late == 0 {
		t.Errorf("failures %d, holds %d, late %d: the consequence is not reported\n%s", tot.Failed, tot.Held, tot.Late, out.String())
	}
	if !strings.Contains(out.String(), "2027-02") || !strings.Contains(out.String(), "originals erased") {
		t.Errorf("table:\n%s", out.String())
	}
}

// With the interlock turned off, the same failure loses data inside its
// floor: the simulation stops there and says so.
func TestSimulateReportsLoss(t *testing.T) {
	t.Parallel()
	src := strings.Replace(string(policy.DefaultYAML()), "    interlock: true\n    on_account_deletion: null\n\naccess", "    interlock: false\n    on_account_deletion: null\n\naccess", 1)
	pol, _, err := policy.Load("no-interlock.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	fails := []simulate.Failure{{Kind: "backup", Month: "2027-01"}, {Kind: "backup", Month: "2027-02"}}
	_, err = simulate.Run(context.Background(), simulate.Config{Policy: pol, Days: 120, Seed: 7, Fail: fails})
	v, ok := err.(*simulate.Violation)
	if !ok || v.Clause != policy.ClauseExecLogs || !strings.Contains(v.Text.EN, "exec/2026-12-31 is lost") || !strings.Contains(v.Text.JA, "失われました") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseFailure(t *testing.T) {
	if f, err := simulate.ParseFailure("backup@2027-03"); err != nil || f.Month != "2027-03" {
		t.Errorf("%v %v", f, err)
	}
	for _, bad := range []string{"backup", "disk@2027-03", "backup@2027-13", "backup@03-2027"} {
		if _, err := simulate.ParseFailure(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The reference policy's conflict: a system-log backup's ceiling (3 years
// after generation) comes before its floor (3 years from the monthly set).
// Precedence "erase" lets the ceiling win; that is the policy, not a loss.
func TestCheckLetsTheCeilingWin(t *testing.T) {
	ctx := context.Background()
	pol := policy.Default()
	w, err := simulate.Open(ctx, t.TempDir(), pol, time.Date(2026, 12, 1, 3, 0, 0, 0, pol.Location()))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Day(ctx, map[string]int{"system": 5}, rand.New(rand.NewPCG(1, 1))); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec.Run(ctx); err != nil {
		t.Fatal(err)
	}
	w.Clock.Add(time.Date(2029, 12, 2, 3, 0, 0, 0, pol.Location()).Sub(w.Clock.Now()))
	if _, err := w.Exec.Run(ctx); err != nil {
		t.Fatal(err)
	}
	inv, _ := w.Exec.Inventory(ctx)
	if len(inv.Partitions)+len(inv.Backups) != 0 {
		t.Fatalf("left: %+v", inv)
	}
	if err := w.Check(ctx, false, true); err != nil {
		t.Errorf("erasure at the ceiling reported: %v", err)
	}
}

// Customers over four months: accounts created, backed up daily, deleted
// (some deletions taken back), and erased with their keys and backups.
func TestSimulateAccounts(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	months, err := simulate.Run(context.Background(), simulate.Config{Policy: policy.Default(), Days: 120, Seed: 3, Accounts: 4, Lang: "ja", Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var erased, backups int
	for _, m := range months {
		erased += m.AccountsErased
		backups += m.Backups
	}
	if erased == 0 || backups < 4*110 {
		t.Errorf("%d accounts erased, %d backups\n%s", erased, backups, out.String())
	}
	if !strings.Contains(out.String(), "アカウント消去") {
		t.Errorf("table:\n%s", out.String())
	}
}

// The account checks catch what would break the user-data clause: data
// changed behind the customer's back, a snapshot that does not restore,
// a deleted account whose key came back.
func TestCheckAccounts(t *testing.T) {
	ctx := context.Background()
	pol := policy.Default()
	w, err := simulate.Open(ctx, t.TempDir(), pol, time.Date(2026, 12, 1, 3, 0, 0, 0, pol.Location()))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.People.Live = 3
	rng := rand.New(rand.NewPCG(1, 1))
	days := func(n int) {
		t.Helper()
		for range n {
			if err := w.Day(ctx, nil, rng); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Exec.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if err := w.Check(ctx, false, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	days(3)
	gone := w.People.Active()[0]
	if err := w.RequestDeletion(ctx, gone, time.Time{}); err != nil {
		t.Fatal(err)
	}
	days(9)
	want := func(what, text string) {
		t.Helper()
		err := w.Check(ctx, false, true)
		if v, ok := err.(*simulate.Violation); !ok || v.Clause != policy.ClauseUserData || !strings.Contains(v.Text.EN, text) {
			t.Errorf("%s: Check = %v, want a user-data violation saying %q", what, err, text)
		}
	}

	// A deleted account's key made again.
	if _, err := w.Keys.Encrypt(ctx, gone, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	want("a key made again", "key still exists")
	w.Keys.DestroyAccountKey(ctx, gone)

	// An item changed behind the customer's back.
	kept := w.People.Active()[0]
	items, _ := w.Accounts.SnapshotAccountItems(ctx, kept)
	orig := *items[0]
	changed := orig
	changed.Ciphertext, _ = w.Keys.Encrypt(ctx, kept, []byte("tampered"), orig.AssociatedData())
	w.Accounts.PutAccountItem(ctx, &changed)
	want("changed data", "lost or changed")
	w.Accounts.PutAccountItem(ctx, &orig)

	// Yesterday's snapshot damaged on the target.
	inv, _ := w.Exec.Inventory(ctx)
	for _, b := range inv.Backups {
		if b.Account == kept && b.Day == w.Clock.Now().In(pol.Location()).AddDate(0, 0, -1).Format(time.DateOnly) {
			man, _ := w.Exec.Manifest(ctx, b.ID)
			w.Target.BlobStore.Put(ctx, man.Object, strings.NewReader("not a backup"))
		}
	}
	want("a damaged snapshot", "does not restore")
}
