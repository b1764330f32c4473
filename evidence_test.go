package slokeeper_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"slokeeper"
)

// TestEvidenceDurationJSON: a duration reads and writes as whole
// milliseconds, "duration_ms", and is left out when not measured.
func TestEvidenceDurationJSON(t *testing.T) {
	at := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	e := slokeeper.Evidence{ID: 7, At: at, Clause: "data.system_logs", Action: "restore_drill", Outcome: slokeeper.OutcomeOK, Duration: 1500 * time.Millisecond}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"duration_ms":1500`) || !strings.Contains(string(b), `"action":"restore_drill"`) {
		t.Errorf("Marshal = %s, want duration_ms 1500 beside the other fields", b)
	}
	var back slokeeper.Evidence
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Duration != e.Duration || back.ID != 7 || !back.At.Equal(at) || back.Action != e.Action {
		t.Errorf("round trip = %+v, want %+v", back, e)
	}
	e.Duration = 0
	if b, _ = json.Marshal(&e); strings.Contains(string(b), "duration") {
		t.Errorf("Marshal without a duration = %s, want no duration_ms", b)
	}
}
