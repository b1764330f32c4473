package storetest

import (
	"context"
	"testing"
	"time"

	"slokeeper"
)

func testComponents(t *testing.T, s Store) {
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, tokyo)
	api := &slokeeper.Component{ID: "api", Group: "cloud", GroupJA: "クラウド", GroupEN: "Cloud", NameJA: "クラウド実行環境 API", NameEN: "Cloud runtime API", Order: 2,
		Probe:     slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: "https://api.example.jp/healthz", Body: `"ok"`, Status: []int{200}, CertExpiry: slokeeper.Duration(14 * 24 * time.Hour)},
		UpdatedAt: now}
	editor := &slokeeper.Component{ID: "editor", Group: "cloud", NameJA: "エディタ", NameEN: "Editor", Order: 1, Target: 0.995,
		Probe: slokeeper.Probe{Kind: slokeeper.ProbeTCP, Target: "editor.example.jp:443"}, Interval: slokeeper.Duration(10 * time.Second), Failures: 2, UpdatedAt: now}
	dns := &slokeeper.Component{ID: "dns", NameJA: "DNS", NameEN: "DNS", Hidden: true,
		Probe: slokeeper.Probe{Kind: slokeeper.ProbeDNS, Target: "api.example.jp", Expect: "192.0.2.10"}, UpdatedAt: now}
	for _, c := range []*slokeeper.Component{api, editor, dns} {
		if err := s.Components.PutComponent(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if api.Interval != slokeeper.Duration(time.Minute) || api.Failures != 3 {
		t.Errorf("defaults: interval %v, failures %d", api.Interval, api.Failures)
	}
	if err := s.Components.PutComponent(ctx, &slokeeper.Component{ID: "Bad ID", NameJA: "x", NameEN: "x", Probe: api.Probe}); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("a bad ID = %v", err)
	}
	if err := s.Components.PutComponent(ctx, &slokeeper.Component{ID: "x", NameJA: "x", NameEN: "x", Probe: slokeeper.Probe{Kind: "ping"}}); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("a bad probe = %v", err)
	}
	if err := s.Components.PutComponent(ctx, &slokeeper.Component{ID: "x", GroupJA: "名前だけ", NameJA: "x", NameEN: "x", Probe: api.Probe}); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("a group name without a group = %v", err)
	}
	// Ordered by group, order, ID; the probe comes back whole.
	all, err := s.Components.FindComponents(ctx, slokeeper.ComponentFilter{})
	if err != nil || len(all) != 3 || all[0].ID != "dns" || all[1].ID != "editor" || all[2].ID != "api" {
		t.Fatalf("FindComponents = %v, %v", all, err)
	}
	got := all[2]
	if got.Probe.Body != `"ok"` || len(got.Probe.Status) != 1 || got.Probe.CertExpiry != slokeeper.Duration(14*24*time.Hour) || got.NameJA != "クラウド実行環境 API" || got.GroupJA != "クラウド" || got.GroupEN != "Cloud" || !got.UpdatedAt.Equal(now) {
		t.Errorf("api = %+v", got)
	}
	if e := all[1]; e.Target != 0.995 || e.Interval != slokeeper.Duration(10*time.Second) || e.Failures != 2 || !all[0].Hidden {
		t.Errorf("editor = %+v", e)
	}
	// Replaced by ID.
	api.NameEN, api.Probe.Target = "Runtime API", "https://api2.example.jp/healthz"
	s.Components.PutComponent(ctx, api)
	if c, _ := s.Components.FindComponents(ctx, slokeeper.ComponentFilter{ID: "api"}); len(c) != 1 || c[0].NameEN != "Runtime API" || c[0].Probe.Target != "https://api2.example.jp/healthz" {
		t.Errorf("after replacing: %+v", c)
	}
	if c, _ := s.Components.FindComponents(ctx, slokeeper.ComponentFilter{Group: "cloud"}); len(c) != 2 {
		t.Errorf("group cloud: %d components", len(c))
	}

	// Results: stored all or none, read back in order, pruned by age.
	rs := []slokeeper.CheckResult{
		{Component: "api", Node: "n2", At: now.Add(time.Minute), OK: false, Latency: 30 * time.Millisecond, Detail: "status 503 Service Unavailable"},
		{Component: "api", Node: "n1", At: now, OK: true, Latency: 12 * time.Millisecond, Detail: "200 OK"},
		{Component: "editor", Node: "n1", At: now, OK: true},
	}
	if err := s.Components.AddCheckResults(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if err := s.Components.AddCheckResults(ctx, []slokeeper.CheckResult{{Component: "api", Node: "n1", At: now.Add(2 * time.Minute), OK: true}, {Component: "ghost", Node: "n1", At: now}}); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("a result of an unknown component = %v, want EINVALID", err)
	}
	res, err := s.Components.FindCheckResults(ctx, "api", now, now.Add(time.Hour))
	if err != nil || len(res) != 2 || res[0].Node != "n1" || !res[0].At.Equal(now) || res[1].OK || res[1].Latency != 30*time.Millisecond || res[1].Detail != "status 503 Service Unavailable" {
		t.Fatalf("FindCheckResults = %+v, %v (the batch with a bad result must store nothing)", res, err)
	}
	if res, _ := s.Components.FindCheckResults(ctx, "api", now, now.Add(time.Minute)); len(res) != 1 {
		t.Errorf("[from, to) includes to: %+v", res)
	}
	if n, err := s.Components.PruneCheckResults(ctx, now.Add(30*time.Second)); err != nil || n != 2 {
		t.Errorf("PruneCheckResults = %d, %v; want 2", n, err)
	}
	// Daily tallies: replaced by (component, day), read by a day range.
	days := []slokeeper.ComponentDay{
		{Component: "api", Day: "2026-12-02", Observed: 24 * time.Hour},
		{Component: "api", Day: "2026-12-03", Observed: 10 * time.Hour, Down: time.Minute, Maintenance: 2 * time.Hour},
		{Component: "editor", Day: "2026-12-03", Observed: 24 * time.Hour},
	}
	if err := s.Components.PutComponentDays(ctx, days); err != nil {
		t.Fatal(err)
	}
	days[1].Observed, days[1].Down = 22*time.Hour, 3*time.Minute
	s.Components.PutComponentDays(ctx, days[1:2])
	if got, err := s.Components.FindComponentDays(ctx, "api", "2026-12-01", "2026-12-03"); err != nil || len(got) != 2 || got[1] != days[1] || got[0] != days[0] {
		t.Errorf("FindComponentDays = %+v, %v", got, err)
	}
	if err := s.Components.PutComponentDays(ctx, []slokeeper.ComponentDay{{Component: "ghost", Day: "2026-12-03"}}); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("a tally of an unknown component = %v", err)
	}
	// Deleting a component deletes its results.
	if err := s.Components.DeleteComponent(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	if res, _ := s.Components.FindCheckResults(ctx, "api", now.Add(-time.Hour), now.Add(time.Hour)); len(res) != 0 {
		t.Errorf("results outlived their component: %+v", res)
	}
	if got, _ := s.Components.FindComponentDays(ctx, "api", "2026-12-01", "2026-12-31"); len(got) != 0 {
		t.Errorf("tallies outlived their component: %+v", got)
	}
	if err := s.Components.DeleteComponent(ctx, "api"); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("deleting twice = %v", err)
	}
}

func testMaintenance(t *testing.T, s Store) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, tokyo)
	start := time.Date(2026, 12, 3, 1, 0, 0, 0, tokyo)
	db := &slokeeper.Maintenance{ID: "mt_1", Components: []string{"api", "editor"}, TitleJA: "データベースの更新", TitleEN: "Database upgrade",
		BodyJA: "約2時間停止します。", Start: start, End: start.Add(2 * time.Hour), CreatedAt: now}
	all := &slokeeper.Maintenance{ID: "mt_2", TitleJA: "緊急メンテナンス", TitleEN: "Emergency maintenance", Start: now.Add(time.Hour), End: now.Add(2 * time.Hour),
		Emergency: true, Reason: "a security fix", CreatedAt: now}
	for _, m := range []*slokeeper.Maintenance{db, all} {
		if err := s.Maintenance.CreateMaintenance(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Maintenance.CreateMaintenance(ctx, &slokeeper.Maintenance{ID: "mt_3", TitleJA: "x", TitleEN: "x", Start: start, End: start, CreatedAt: now}); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("a window ending as it starts = %v", err)
	}
	got, err := s.Maintenance.FindMaintenances(ctx, slokeeper.MaintenanceFilter{})
	if err != nil || len(got) != 2 || got[0].ID != "mt_2" || len(got[0].Components) != 0 || !got[0].Emergency || got[0].Reason != "a security fix" ||
		got[1].BodyJA != "約2時間停止します。" || !got[1].Start.Equal(start) || !got[1].Covers("editor") || got[1].Covers("dns") || !got[0].Covers("dns") {
		t.Fatalf("FindMaintenances = %+v, %v", got, err)
	}
	// Overlapping a range, cancelled ones left out.
	if in, _ := s.Maintenance.FindMaintenances(ctx, slokeeper.MaintenanceFilter{From: start.Add(time.Hour), To: start.Add(5 * time.Hour)}); len(in) != 1 || in[0].ID != "mt_1" {
		t.Errorf("overlapping = %+v", in)
	}
	if in, _ := s.Maintenance.FindMaintenances(ctx, slokeeper.MaintenanceFilter{From: start.Add(2 * time.Hour), To: start.Add(5 * time.Hour)}); len(in) != 0 {
		t.Errorf("a window ending at From overlaps: %+v", in)
	}
	later, cancelled := start.Add(24*time.Hour), now.Add(time.Minute)
	if err := s.Maintenance.UpdateMaintenance(ctx, "mt_1", slokeeper.MaintenanceUpdate{Start: &later, End: &[]time.Time{later.Add(time.Hour)}[0]}); err != nil {
		t.Fatal(err)
	}
	s.Maintenance.UpdateMaintenance(ctx, "mt_2", slokeeper.MaintenanceUpdate{CancelledAt: &cancelled})
	if in, _ := s.Maintenance.FindMaintenances(ctx, slokeeper.MaintenanceFilter{From: now, To: later.Add(time.Hour)}); len(in) != 1 || in[0].ID != "mt_1" || !in[0].Start.Equal(later) {
		t.Errorf("after rescheduling and cancelling = %+v", in)
	}
	if c, _ := s.Maintenance.FindMaintenances(ctx, slokeeper.MaintenanceFilter{ID: "mt_2"}); len(c) != 1 || c[0].State(now) != slokeeper.MaintenanceCancelled {
		t.Errorf("cancelled = %+v", c)
	}
	if err := s.Maintenance.UpdateMaintenance(ctx, "nope", slokeeper.MaintenanceUpdate{CancelledAt: &cancelled}); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("updating an unknown window = %v", err)
	}
}
