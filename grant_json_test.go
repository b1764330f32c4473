package slokeeper_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"slokeeper"
)

// TestGrantJSON: a grant's duration is a readable string and times are
// RFC 3339; both read back, as does the older nanosecond form.
func TestGrantJSON(t *testing.T) {
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	g := slokeeper.Grant{ID: "gr_1", Account: "acme", Scope: "all", Reason: "ticket 12", Duration: 2 * time.Hour, RequestedAt: at}
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, `"duration":"2h0m0s"`) || !strings.Contains(s, `"requested_at":"2026-12-02T09:00:00Z"`) {
		t.Fatalf("grant JSON = %s", s)
	}
	for _, in := range []string{string(b), `{"id":"gr_1","duration":7200000000000}`} {
		var back slokeeper.Grant
		if err := json.Unmarshal([]byte(in), &back); err != nil || back.Duration != 2*time.Hour || back.ID != "gr_1" {
			t.Errorf("read back %s = %+v, %v", in, back, err)
		}
	}
}
