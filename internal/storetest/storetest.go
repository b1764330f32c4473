// Package storetest is the storage conformance suite: the same tests, run
// against every storage engine, so that SQLite and PostgreSQL behave alike
// where slokeeper relies on it. It also finds the PostgreSQL server tests
// run against.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"slokeeper"
)

// Store is what one engine offers the suite.
type Store struct {
	// Services are the engine's storage services, from its NewServices:
	// the bundle the server runs on.
	slokeeper.Services
	// Exec runs raw SQL on the engine, for tests that must go around the
	// services (tampering with append-only tables).
	Exec func(ctx context.Context, sql string) error
	// RefuseEvidence makes the engine refuse (on) or accept again (off)
	// inserts into the evidence table, as a failing store would.
	RefuseEvidence func(ctx context.Context, on bool) error
}

// Opener opens a fresh, empty store for one test; the engine's test closes
// it in tb.Cleanup.
type Opener func(tb testing.TB) Store

// Run runs the whole suite against the engine open opens.
func Run(t *testing.T, open Opener) {
	t.Run("Evidence", func(t *testing.T) {
		t.Run("RecordOK", func(t *testing.T) { t.Parallel(); testRecordEvidence(t, open(t)) })
		t.Run("ErrInvalid", func(t *testing.T) { t.Parallel(); testRecordEvidenceInvalid(t, open(t)) })
		t.Run("Find", func(t *testing.T) { t.Parallel(); testFindEvidence(t, open(t)) })
		t.Run("Concurrent", func(t *testing.T) { t.Parallel(); testEvidenceConcurrent(t, open(t)) })
		t.Run("AppendOnly", func(t *testing.T) { t.Parallel(); testEvidenceAppendOnly(t, open(t)) })
		t.Run("InTransaction", func(t *testing.T) { t.Parallel(); testEvidenceInTransaction(t, open(t)) })
	})
	t.Run("LogCatalog", func(t *testing.T) { t.Parallel(); testLogCatalog(t, open(t)) })
	t.Run("Sources", func(t *testing.T) { t.Parallel(); testSources(t, open(t)) })
	t.Run("AuditStore", func(t *testing.T) { t.Parallel(); testAuditStore(t, open(t)) })
	t.Run("Operators", func(t *testing.T) { t.Parallel(); testOperators(t, open(t)) })
	t.Run("LoginAttempts", func(t *testing.T) { t.Parallel(); testLoginAttempts(t, open(t)) })
	t.Run("LoginAttemptsConcurrent", func(t *testing.T) { t.Parallel(); testLoginAttemptsConcurrent(t, open(t)) })
	t.Run("BurnTOTPStep", func(t *testing.T) { t.Parallel(); testBurnTOTPStep(t, open(t)) })
	t.Run("Accounts", func(t *testing.T) { t.Parallel(); testAccounts(t, open(t)) })
	t.Run("BackupCatalog", func(t *testing.T) { t.Parallel(); testBackupCatalog(t, open(t)) })
	t.Run("Components", func(t *testing.T) { t.Parallel(); testComponents(t, open(t)) })
	t.Run("Maintenance", func(t *testing.T) { t.Parallel(); testMaintenance(t, open(t)) })
	t.Run("Incidents", func(t *testing.T) { t.Parallel(); testIncidents(t, open(t)) })
	t.Run("Notifications", func(t *testing.T) { t.Parallel(); testNotifications(t, open(t)) })
	t.Run("SubscriberConfirmations", func(t *testing.T) { t.Parallel(); testSubscriberConfirmations(t, open(t)) })
	t.Run("DeliveryClaims", func(t *testing.T) { t.Parallel(); testDeliveryClaims(t, open(t)) })
	t.Run("DeliveryFencing", func(t *testing.T) { t.Parallel(); testDeliveryFencing(t, open(t)) })
	t.Run("HandOverRace", func(t *testing.T) { t.Parallel(); testHandOverRace(t, open(t)) })
	t.Run("Nodes", func(t *testing.T) { t.Parallel(); testNodes(t, open(t)) })
	t.Run("ClusterValues", func(t *testing.T) { t.Parallel(); testClusterValues(t, open(t)) })
}

var tokyo = time.FixedZone("JST", 9*3600)

func mustRecord(tb testing.TB, s Store, e *slokeeper.Evidence) *slokeeper.Evidence {
	tb.Helper()
	if err := s.Evidence.RecordEvidence(context.Background(), e); err != nil {
		tb.Fatalf("RecordEvidence(%+v): %v", e, err)
	}
	return e
}

func testRecordEvidence(t *testing.T, s Store) {
	ctx := context.Background()
	at := time.Date(2026, 12, 3, 10, 0, 0, 123456789, tokyo)
	deadline := time.Date(2026, 12, 4, 0, 0, 0, 0, tokyo)
	e := mustRecord(t, s, &slokeeper.Evidence{
		At: at, Clause: "data.system_logs", Action: "backup", Subject: "system/2026-12-02",
		Deadline: deadline, Outcome: slokeeper.OutcomeOK, Detail: "バックアップを検証しました (verified)", Node: "node-1",
		Duration: 2*time.Minute + 3456789*time.Microsecond,
	})
	if e.ID == 0 {
		t.Fatal("RecordEvidence did not set the ID")
	}
	second := mustRecord(t, s, &slokeeper.Evidence{At: at, Clause: "availability", Action: "self_check", Outcome: slokeeper.OutcomeOK})
	if second.ID <= e.ID {
		t.Errorf("IDs not increasing: %d then %d", e.ID, second.ID)
	}

	got, n, err := s.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || len(got) != 2 {
		t.Fatalf("FindEvidence: %d of n=%d, want 2 of 2", len(got), n)
	}
	g := got[0]
	// Both engines keep microseconds and return UTC.
	wantAt := time.Date(2026, 12, 3, 1, 0, 0, 123456000, time.UTC)
	if !g.At.Equal(wantAt) || g.At.Location() != time.UTC {
		t.Errorf("At = %s, want %s in UTC", g.At, wantAt)
	}
	if !g.Deadline.Equal(deadline) {
		t.Errorf("Deadline = %s, want %s", g.Deadline, deadline)
	}
	if g.ID != e.ID || g.Clause != e.Clause || g.Action != e.Action || g.Subject != e.Subject ||
		g.Outcome != e.Outcome || g.Detail != e.Detail || g.Node != e.Node {
		t.Errorf("stored %+v, got back %+v", e, g)
	}
	if !got[1].Deadline.IsZero() {
		t.Errorf("evidence without deadline came back with %s", got[1].Deadline)
	}
	// Durations are kept to the millisecond; none is zero.
	if want := 2*time.Minute + 3456*time.Millisecond; g.Duration != want {
		t.Errorf("Duration = %s, want %s", g.Duration, want)
	}
	if got[1].Duration != 0 {
		t.Errorf("evidence without duration came back with %s", got[1].Duration)
	}
}

func testRecordEvidenceInvalid(t *testing.T, s Store) {
	ctx := context.Background()
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, tokyo)
	bad := []slokeeper.Evidence{
		{Clause: "availability", Action: "self_check", Outcome: slokeeper.OutcomeOK},
		{At: at, Action: "self_check", Outcome: slokeeper.OutcomeOK},
		{At: at, Clause: "availability", Outcome: slokeeper.OutcomeOK},
		{At: at, Clause: "availability", Action: "self_check", Outcome: "fine"},
		{At: at, Clause: "availability", Action: "self_check", Outcome: slokeeper.OutcomeOK, Duration: -time.Second},
	}
	for i := range bad {
		err := s.Evidence.RecordEvidence(ctx, &bad[i])
		if code := slokeeper.ErrorCode(err); code != slokeeper.EINVALID {
			t.Errorf("RecordEvidence(%+v) = %v, want code %s", bad[i], err, slokeeper.EINVALID)
		}
	}
	if _, n, err := s.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{}); err != nil || n != 0 {
		t.Errorf("after refused records: n=%d err=%v, want nothing stored", n, err)
	}
}

func testFindEvidence(t *testing.T, s Store) {
	ctx := context.Background()
	base := time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)
	clauses := []string{"data.exec_logs", "data.system_logs", "maintenance"}
	outcomes := []string{slokeeper.OutcomeOK, slokeeper.OutcomeLate, slokeeper.OutcomeOK, slokeeper.OutcomeFailed}
	// Recorded out of time order: the store returns time order.
	for i := 11; i >= 0; i-- {
		mustRecord(t, s, &slokeeper.Evidence{
			At: base.Add(time.Duration(i) * time.Hour), Clause: clauses[i%3], Action: []string{"backup", "erase"}[i%2],
			Subject: fmt.Sprintf("s%02d", i), Outcome: outcomes[i%4],
		})
	}
	subjects := func(es []*slokeeper.Evidence) string {
		var out string
		for _, e := range es {
			out += e.Subject + " "
		}
		return out
	}
	tests := []struct {
		name   string
		filter slokeeper.EvidenceFilter
		want   string
		n      int
	}{
		{"All", slokeeper.EvidenceFilter{}, "s00 s01 s02 s03 s04 s05 s06 s07 s08 s09 s10 s11 ", 12},
		{"Clause", slokeeper.EvidenceFilter{Clause: "data.system_logs"}, "s01 s04 s07 s10 ", 4},
		{"Action", slokeeper.EvidenceFilter{Action: "erase"}, "s01 s03 s05 s07 s09 s11 ", 6},
		{"Outcome", slokeeper.EvidenceFilter{Outcome: slokeeper.OutcomeLate}, "s01 s05 s09 ", 3},
		{"Since", slokeeper.EvidenceFilter{Since: base.Add(10 * time.Hour)}, "s10 s11 ", 2},
		{"UntilExclusive", slokeeper.EvidenceFilter{Until: base.Add(2 * time.Hour)}, "s00 s01 ", 2},
		{"SinceInOtherZone", slokeeper.EvidenceFilter{Since: base.Add(10 * time.Hour).In(tokyo)}, "s10 s11 ", 2},
		{"Combined", slokeeper.EvidenceFilter{Clause: "data.exec_logs", Action: "backup", Since: base.Add(time.Hour)}, "s06 ", 1},
		{"Page", slokeeper.EvidenceFilter{Offset: 3, Limit: 4}, "s03 s04 s05 s06 ", 12},
		{"PagePastEnd", slokeeper.EvidenceFilter{Offset: 20, Limit: 4}, "", 12},
		{"None", slokeeper.EvidenceFilter{Clause: "support"}, "", 0},
	}
	for _, tt := range tests {
		got, n, err := s.Evidence.FindEvidence(ctx, tt.filter)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if subjects(got) != tt.want || n != tt.n {
			t.Errorf("%s: got %q n=%d, want %q n=%d", tt.name, subjects(got), n, tt.want, tt.n)
		}
	}
}

func testEvidenceConcurrent(t *testing.T, s Store) {
	const writers, each = 8, 25
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				errs <- s.Evidence.RecordEvidence(context.Background(), &slokeeper.Evidence{
					At: at, Clause: "availability", Action: "self_check", Subject: fmt.Sprintf("w%d-%d", w, i), Outcome: slokeeper.OutcomeOK,
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent RecordEvidence: %v", err)
		}
	}
	got, n, err := s.Evidence.FindEvidence(context.Background(), slokeeper.EvidenceFilter{})
	if err != nil || n != writers*each || len(got) != n {
		t.Fatalf("after %d concurrent records: %d of n=%d, err %v", writers*each, len(got), n, err)
	}
	seen := map[int64]bool{}
	for _, e := range got {
		if seen[e.ID] {
			t.Fatalf("duplicate ID %d", e.ID)
		}
		seen[e.ID] = true
	}
}

func testEvidenceAppendOnly(t *testing.T, s Store) {
	ctx := context.Background()
	e := mustRecord(t, s, &slokeeper.Evidence{At: time.Now(), Clause: "availability", Action: "self_check", Outcome: slokeeper.OutcomeFailed})
	for _, stmt := range []string{
		fmt.Sprintf("UPDATE evidence SET outcome = 'ok' WHERE id = %d", e.ID),
		fmt.Sprintf("DELETE FROM evidence WHERE id = %d", e.ID),
	} {
		if err := s.Exec(ctx, stmt); err == nil {
			t.Errorf("%s succeeded; evidence must be append-only", stmt)
		}
	}
	got, _, err := s.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{})
	if err != nil || len(got) != 1 || got[0].Outcome != slokeeper.OutcomeFailed {
		t.Errorf("evidence after tampering attempts: %v %v, want it unchanged", got, err)
	}
}

// Bench runs the storage benchmarks against the engine open opens.
func Bench(b *testing.B, open Opener) {
	b.Run("RecordEvidence", func(b *testing.B) {
		s := open(b)
		at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			e := &slokeeper.Evidence{At: at.Add(time.Duration(i)), Clause: "availability", Action: "self_check", Outcome: slokeeper.OutcomeOK, Node: "bench"}
			if err := s.Evidence.RecordEvidence(context.Background(), e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("FindEvidencePage", func(b *testing.B) {
		s := open(b)
		at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
		for i := range 2000 {
			mustRecord(b, s, &slokeeper.Evidence{At: at.Add(time.Duration(i) * time.Minute), Clause: []string{"availability", "data.system_logs"}[i%2], Action: "x", Outcome: slokeeper.OutcomeOK})
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := s.Evidence.FindEvidence(context.Background(), slokeeper.EvidenceFilter{Clause: "data.system_logs", Since: at.Add(10 * time.Hour), Limit: 100}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
