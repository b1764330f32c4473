package logstore_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"slokeeper"
	"slokeeper/internal/logstore"
	"slokeeper/internal/postgres"
	"slokeeper/internal/sqlite"
	"slokeeper/internal/storetest"
)

// TestMain lets the test binary act as a crash victim: with
// LOGSTORE_CRASH_DIR set it appends for ever and prints every
// acknowledged batch, until the parent kills it.
func TestMain(m *testing.M) {
	if dir := os.Getenv("LOGSTORE_CRASH_DIR"); dir != "" {
		crashChild(dir, os.Getenv("LOGSTORE_CRASH_RUN"))
		return
	}
	os.Exit(m.Run())
}

const crashBatch = 20

// crashStore opens the store in dir, or on the shared backend when dsn is
// set.
func crashStore(dir, dsn string) (*logstore.Store, func(), error) {
	ctx := context.Background()
	if dsn != "" {
		db, err := postgres.Open(ctx, dsn)
		if err != nil {
			return nil, nil, err
		}
		s, err := logstore.Open(ctx, logstore.Config{Blocks: postgres.NewLogBlocks(db), Location: tokyo})
		return s, func() { s.Close(); db.Close() }, err
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "slokeeper.db"))
	if err != nil {
		return nil, nil, err
	}
	s, err := logstore.Open(ctx, logstore.Config{Dir: filepath.Join(dir, "logs"), Catalog: sqlite.NewLogCatalog(db), Location: tokyo})
	return s, func() { s.Close(); db.Close() }, err
}

func crashChild(dir, run string) {
	ctx := context.Background()
	s, _, err := crashStore(dir, os.Getenv("LOGSTORE_CRASH_DSN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var out sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				batch := fmt.Sprintf("%s-g%d-b%d", run, w, i)
				rs := recs("dev-"+fmt.Sprint(w), crashBatch, batch)
				if _, err := s.AppendLogs(ctx, slokeeper.LogClassExec, rs, ""); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				out.Lock()
				fmt.Printf("ack %s\n", batch)
				out.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestCrashKillNine kills a process appending to the store at random
// moments, again and again, and checks after each kill that every
// acknowledged batch is there, whole and once, and no batch is in part.
func TestCrashKillNine(t *testing.T) { testCrashKillNine(t, "", 10) }

// TestCrashKillNineShared: the same on the shared backend, where an
// acknowledgement means a COMMIT.
func TestCrashKillNineShared(t *testing.T) { testCrashKillNine(t, storetest.PostgresDSN(t), 5) }

func testCrashKillNine(t *testing.T, dsn string, runs int) {
	if testing.Short() {
		t.Skip("crash test")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	acked := map[string]bool{}
	for run := range runs {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "LOGSTORE_CRASH_DIR="+dir, "LOGSTORE_CRASH_DSN="+dsn, fmt.Sprintf("LOGSTORE_CRASH_RUN=r%d", run))
		stdout, _ := cmd.StdoutPipe()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := rng.IntN(300)
		sc := bufio.NewScanner(stdout)
		n := 0
		for sc.Scan() {
			if batch, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
				acked[batch] = true
				n++
				if n == killAfter {
					cmd.Process.Kill() // SIGKILL: no chance to clean up
				}
			}
		}
		err := cmd.Wait()
		if !strings.Contains(fmt.Sprint(err), "killed") {
			if killAfter == 0 {
				cmd.Process.Kill()
			}
			if stderr.Len() > 0 {
				t.Fatalf("run %d: child failed: %v\n%s", run, err, stderr.String())
			}
		}

		// Open as the next process would and check.
		s, closeStore, err := crashStore(dir, dsn)
		if err != nil {
			t.Fatalf("run %d: reopen after kill: %v", run, err)
		}
		counts := map[string]int{}
		s.QueryLogs(context.Background(), slokeeper.LogQuery{}, func(r *slokeeper.LogRecord) error {
			batch := r.Message[:strings.LastIndex(r.Message, "-")]
			counts[batch]++
			return nil
		})
		closeStore()
		for batch := range acked {
			if counts[batch] != crashBatch {
				t.Fatalf("run %d: acknowledged batch %s has %d of %d records", run, batch, counts[batch], crashBatch)
			}
		}
		for batch, c := range counts {
			if c != crashBatch {
				t.Fatalf("run %d: batch %s stored in part (%d of %d records)", run, batch, c, crashBatch)
			}
		}
		t.Logf("run %d: killed after %d acks; %d batches acknowledged in all, %d stored", run, n, len(acked), len(counts))
	}
}
