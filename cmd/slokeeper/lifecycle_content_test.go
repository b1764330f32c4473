package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/lifecycle"
)

// TestPrintSuperseded: "lifecycle plan" names a backup of a day's older
// content, and the content the day holds now, in both languages.
func TestPrintSuperseded(t *testing.T) {
	sum := func(c byte) string { return strings.Repeat(string(c), 64) }
	inv := lifecycle.Inventory{
		Partitions: []lifecycle.Partition{{Class: "exec", Day: "2026-12-03", Sealed: true, Checksum: sum('b'), Records: 65}},
		Backups: []lifecycle.BackupCopy{
			{ID: "bk_old", Class: "exec", Day: "2026-12-03", Verified: true, Checksum: sum('a'), Records: 5},
			{ID: "bk_new", Class: "exec", Day: "2026-12-03", Verified: true, Checksum: sum('b'), Records: 65},
		},
	}
	var en, ja bytes.Buffer
	printSuperseded(&en, inv, "en")
	printSuperseded(&ja, inv, "ja")
	if got := en.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, "bk_old of exec/2026-12-03 holds older content (5 records, sha256:aaaaaaaaaaaa)") ||
		!strings.Contains(got, "now holds 65 records, sha256:bbbbbbbbbbbb") {
		t.Errorf("en: %q", got)
	}
	if got := ja.String(); !strings.Contains(got, "bk_old(exec/2026-12-03)は以前の内容(5 件、sha256:aaaaaaaaaaaa)") {
		t.Errorf("ja: %q", got)
	}
}

// TestPassReportBusy: a server's pass that found another node's pass
// under way reports the holder, for "lifecycle run" beside it.
func TestPassReportBusy(t *testing.T) {
	started := time.Date(2026, 12, 4, 0, 20, 0, 0, time.UTC)
	body, err := json.Marshal(newPassReport(nil, &slokeeper.PassBusyError{Holder: slokeeper.PassHolder{Node: "node-b", Started: started}}))
	if err != nil {
		t.Fatal(err)
	}
	var rep passReport
	if err := json.Unmarshal(body, &rep); err != nil || rep.Busy == nil || rep.Busy.Node != "node-b" || !rep.Busy.Started.Equal(started) {
		t.Errorf("report = %s, %v", body, err)
	}
}
