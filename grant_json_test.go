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

// TestAccessReviewJSON: an access review read back from its JSON (as the
// CLI reads the server's) keeps each grant and the review's own fields
// beside it: names, state and reads.
func TestAccessReviewJSON(t *testing.T) {
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	rev := slokeeper.AccessReview{ReviewedAt: at, Operators: []slokeeper.ReviewedOperator{},
		Grants: []slokeeper.ReviewedGrant{{Grant: &slokeeper.Grant{ID: "gr_1", Account: "acme", Duration: time.Hour, RequestedAt: at},
			State: slokeeper.GrantPending, Requester: "olga", AccountName: "Acme", Reads: 3}}}
	b, err := json.Marshal(rev)
	if err != nil {
		t.Fatal(err)
	}
	var back slokeeper.AccessReview
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("read back %s: %v", b, err)
	}
	if len(back.Grants) != 1 {
		t.Fatalf("read back %s: %d grants", b, len(back.Grants))
	}
	g := back.Grants[0]
	if g.Grant == nil || g.Grant.ID != "gr_1" || g.Grant.Duration != time.Hour || g.State != slokeeper.GrantPending ||
		g.Requester != "olga" || g.AccountName != "Acme" || g.Reads != 3 {
		t.Errorf("read back %s = %+v", b, g)
	}
}
