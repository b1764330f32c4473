package main

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/simulate"
	"slokeeper/lifecycle"
	"slokeeper/policy"
)

// TestLifecycleKilled runs "slokeeper lifecycle run" as a real process on
// a data directory with weeks of work due (backups of logs and accounts,
// their verification, erasures of originals and backups, an account's
// erasure), and kills it with SIGKILL at random points, again and again.
// After every kill nothing is lost and nothing was erased early; the
// passes after it finish the work.
func TestLifecycleKilled(t *testing.T) {
	ctx := context.Background()
	pol := policy.Default()
	dir := t.TempDir()

	// 75 simulated days up to now: daily passes for the first 40, none
	// after, so that the rest is due at once; one account's deletion
	// window ends on day 70.
	now := time.Now()
	w, err := simulate.Open(ctx, dir, pol, now.Add(-75*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	w.People.Live = 3
	rng := rand.New(rand.NewPCG(1, 1))
	var deleted string
	for i := range 75 {
		if i == 63 {
			deleted = w.People.Active()[0]
			if err := w.RequestDeletion(ctx, deleted, time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Day(ctx, map[string]int{"system": 10, "exec": 10}, rng); err != nil {
			t.Fatal(err)
		}
		if i < 40 {
			if _, err := w.Exec.Run(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	generated, people := w.Generated, w.People
	w.Close()

	// check reopens the directory as of the real now and checks the data
	// clauses; with late, those a backlog leaves standing: nothing lost,
	// nothing erased early, every verified backup on the target and
	// restorable.
	check := func(after string, late bool) *simulate.World {
		t.Helper()
		w, err := simulate.Open(ctx, dir, pol, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", after, err)
		}
		w.Generated, w.People = generated, people
		if err := w.Check(ctx, late, true); err != nil {
			w.Close()
			t.Fatalf("%s: %v", after, err)
		}
		return w
	}

	seed := uint64(now.UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("SLOKEEPER_CRASH_SEED"), 10, 64); err == nil {
		seed = s
	}
	kill := rand.New(rand.NewPCG(seed, 0))
	kills := 0
	for run := 1; ; run++ {
		if run > 60 {
			t.Fatalf("60 passes, still not done")
		}
		after := 1 + kill.IntN(12) // actions to let end before the kill
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "SLOKEEPER_TEST_RUN_MAIN=1", "SLOKEEPER_TEST_ARGS=lifecycle run --progress --lang en --data "+dir)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stderr)
		lines, killed := 0, false
		for sc.Scan() {
			if lines++; lines == after {
				cmd.Process.Kill() // SIGKILL, somewhere in the next action
				killed = true
				break
			}
		}
		for sc.Scan() {
		}
		err = cmd.Wait()
		if !killed {
			if err != nil {
				t.Fatalf("pass %d failed: %v", run, err)
			}
			break // the pass ended on its own: the work is done
		}
		kills++
		check("after kill "+strconv.Itoa(kills), true).Close()
	}
	t.Logf("killed %d times (SLOKEEPER_CRASH_SEED=%d)", kills, seed)
	if kills < 3 {
		t.Errorf("only %d kills: the backlog was too small to test", kills)
	}

	// Now all that was late is done: every clause holds as on any day,
	// and nothing the catalog forgot is left on the target.
	w = check("after the last pass", false)
	defer w.Close()
	actions, err := w.Exec.Plan(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range actions {
		// Midnight in Tokyo may pass during the test: a new day's snapshot is new work.
		if a.Kind != lifecycle.Backup || a.Account == "" {
			t.Errorf("left after the passes: %s %s", a.Kind, a.Subject())
		}
	}
	as, err := w.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{ID: deleted})
	if err != nil || len(as) != 1 || as[0].Status != slokeeper.AccountDeleted {
		t.Errorf("account %s after its window: %+v %v", deleted, as, err)
	}
	if keys, _ := w.Keys.AccountKeys(ctx); slices.Contains(keys, deleted) {
		t.Errorf("account %s's key outlived its deletion", deleted)
	}
}
