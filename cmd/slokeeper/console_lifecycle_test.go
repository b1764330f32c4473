package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleLifecycleBrowser: in Chromium, an operator opens the
// lifecycle plan and sees the erasure the interlock holds, with why, then
// verifies a backup on the backups page.
func TestConsoleLifecycleBrowser(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	// A day past its ceiling with no backup: its erasure is held.
	sealedDay(t, cfg, newTestClock(time.Now().AddDate(0, -3, 0)), "exec", 5)
	recent := time.Now().AddDate(0, 0, -3)
	sealedDay(t, cfg, newTestClock(recent), "exec", 5)
	day := recent.In(time.FixedZone("JST", 9*3600)).Format(time.DateOnly)
	out, stderr, code := cliRun(t, "backup", "run", "--class", "exec", "--day", day, "--data", cfg.Data)
	match := regexp.MustCompile(`as (bk_\S+):`).FindStringSubmatch(out)
	if code != 0 || match == nil {
		t.Fatalf("backup run: exit %d\n%s%s", code, out, stderr)
	}
	id := match[1]
	m := MustRunMain(t, cfg)
	signIn(t, m, "olga", "operator")
	do, text := consoleBrowser(t, m, "olga")
	do(chromedp.Navigate(m.HTTP.URL()+"/admin/lifecycle?lang=en"), chromedp.WaitVisible(css(`tr.plan-held`)))
	if held := text(`tr.plan-held`); !strings.Contains(held, "held") || !strings.Contains(held, "exec/") || len(held) < 40 {
		t.Errorf("the held row says %q, want the day and why", held)
	}
	do(chromedp.Navigate(m.HTTP.URL()+"/admin/backups?lang=en"), chromedp.WaitVisible(css(`#backup-`+id+` button.verify`)),
		chromedp.Click(css(`#backup-`+id+` button.verify`)), chromedp.WaitVisible(css(`.done`)))
	if done := text(`.done`); !strings.Contains(done, "read back and everything checked") {
		t.Errorf("after verifying: %q", done)
	}
	found := false
	for _, e := range auditEntries(t, m) {
		if e.Action == "backup.verify" && e.Actor == "operator:olga" && e.Target == "backup:"+id {
			found = true
		}
	}
	if !found {
		t.Error("the ledger has no backup.verify by operator:olga")
	}

	// A restore drill of the exec class from the page: the backup is
	// restored into a scratch area, checked and timed, and listed.
	do(chromedp.SetValue(css(`#drill-class`), "exec"), chromedp.Click(css(`#drill-form button`)), chromedp.WaitVisible(css(`#drills tr.drill-ok`)))
	if row := text(`#drills tr.drill-ok`); !strings.Contains(row, "passed") || !strings.Contains(row, id) || !strings.Contains(row, "seed ") {
		t.Errorf("the drill row says %q", row)
	}
	if done := text(`.done`); !strings.Contains(done, "restore drill ran") {
		t.Errorf("after the drill: %q", done)
	}
}
