package httpserver

import (
	"context"
	"html/template"
	"net/url"
	"strings"
	"testing"
	"time"

	"slokeeper"
)

// componentForm's fields for a good HTTP component.
func goodComponent(id string) url.Values {
	return url.Values{"id": {id}, "name_ja": {"API"}, "name_en": {"API"}, "probe_kind": {"http"}, "probe_target": {"https://api.example.com/health"},
		"interval": {"30s"}, "failures": {"3"}, "target": {"99.9"}}
}

// TestConsoleComponents: a bad component comes back in the form with
// the message the components file would give, what was entered kept; a
// good one is added and changed; support and auditors change nothing;
// removal needs its confirmation.
func TestConsoleComponents(t *testing.T) { onEachEngine(t, testConsoleComponents) }

func testConsoleComponents(t *testing.T, e engine) {
	s := consoleServer(t, e)
	ctx := context.Background()
	admin := session(t, s, "alice", slokeeper.RoleAdmin)
	support, auditor := session(t, s, "sora", slokeeper.RoleSupport), session(t, s, "audrey", slokeeper.RoleAuditor)

	bad := goodComponent("api")
	bad.Set("probe_target", "api.example.com")
	bad.Set("name_en", "Public API")
	want := &slokeeper.Component{ID: "api", NameJA: "API", NameEN: "Public API", Probe: slokeeper.Probe{Kind: "http", Target: "api.example.com"}}
	want.Defaults()
	msg := slokeeper.ErrorMessage(want.Validate())
	if msg == "" {
		t.Fatal("the bad component is valid")
	}
	for _, l := range []struct{ lang, lead string }{{"ja", "入力内容を確認してください"}, {"en", "Please check the form"}} {
		status, body := fetch(t, admin, "POST", s.URL()+"/admin/components?lang="+l.lang, bad)
		if status != 400 || !strings.Contains(body, l.lead) || !strings.Contains(body, template.HTMLEscapeString(msg)) ||
			!strings.Contains(body, `value="api.example.com"`) || !strings.Contains(body, `value="Public API"`) {
			t.Errorf("a bad component (%s) = %d, want 400 with %q and the values entered:\n%s", l.lang, status, msg, body)
		}
	}
	if cs, _ := s.Components.FindComponents(ctx, slokeeper.ComponentFilter{}); len(cs) != 0 {
		t.Fatalf("a refused form stored %d components", len(cs))
	}
	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/components?lang=en", url.Values{"id": {"api"}, "interval": {"soon"}}); status != 400 || !strings.Contains(body, "is not a duration") {
		t.Errorf("a bad interval = %d\n%s", status, body)
	}

	// The probe's target is checked as the file's is: no loopback.
	local := goodComponent("api")
	local.Set("probe_target", "http://127.0.0.1:8080/health")
	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/components?lang=en", local); status != 400 || !strings.Contains(body, "cannot be checked") {
		t.Errorf("a loopback target = %d\n%s", status, body)
	}

	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/components?lang=en", goodComponent("api")); status != 200 || !strings.Contains(body, "The component is saved") {
		t.Fatalf("adding = %d\n%s", status, body)
	}
	// Why the probe failed is on the page, for staff.
	if err := s.Components.AddCheckResults(ctx, []slokeeper.CheckResult{{Component: "api", Node: "n1", At: time.Now(), Detail: "status 503"}}); err != nil {
		t.Fatal(err)
	}
	if status, body := fetch(t, support, "GET", s.URL()+"/admin/components/api?lang=en", nil); status != 200 || !strings.Contains(body, `<code id="probe-reason">status 503</code>`) {
		t.Errorf("the failure's reason on the component page = %d\n%s", status, body)
	}
	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/components?lang=en", goodComponent("api")); status != 409 || !strings.Contains(body, "exists already") {
		t.Errorf("adding api twice = %d\n%s", status, body)
	}
	edit := goodComponent("ignored")
	edit.Set("name_ja", "公開API")
	edit.Set("group", "core")
	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/components/api?lang=ja", edit); status != 200 || !strings.Contains(body, `value="公開API"`) {
		t.Errorf("editing = %d\n%s", status, body)
	}
	cs, _ := s.Components.FindComponents(ctx, slokeeper.ComponentFilter{ID: "api"})
	if len(cs) != 1 || cs[0].NameJA != "公開API" || cs[0].Group != "core" || cs[0].Target != 0.999 || time.Duration(cs[0].Interval) != 30*time.Second {
		t.Fatalf("stored after editing: %+v", cs)
	}

	// Support reads the settings and cannot change them; an auditor has no status pages.
	if status, body := fetch(t, support, "GET", s.URL()+"/admin/components/api?lang=en", nil); status != 200 || strings.Contains(body, `id="save"`) || !strings.Contains(body, "<fieldset disabled>") {
		t.Errorf("support's component page = %d\n%s", status, body)
	}
	for _, c := range []struct {
		name string
		post func() (int, string)
	}{
		{"support edits", func() (int, string) {
			return fetch(t, support, "POST", s.URL()+"/admin/components/api?lang=en", goodComponent("api"))
		}},
		{"support removes", func() (int, string) {
			return fetch(t, support, "POST", s.URL()+"/admin/components/api/delete?lang=en", url.Values{"confirm": {"api"}})
		}},
		{"auditor edits", func() (int, string) {
			return fetch(t, auditor, "POST", s.URL()+"/admin/components/api?lang=en", goodComponent("api"))
		}},
		{"auditor reads", func() (int, string) { return fetch(t, auditor, "GET", s.URL()+"/admin/components/api?lang=en", nil) }},
	} {
		if status, body := c.post(); status != 403 || !strings.Contains(body, "Your role cannot") {
			t.Errorf("%s = %d, want 403\n%s", c.name, status, body)
		}
	}
	if cs, _ := s.Components.FindComponents(ctx, slokeeper.ComponentFilter{ID: "api"}); len(cs) != 1 || cs[0].NameJA != "公開API" {
		t.Errorf("after support and the auditor: %+v", cs)
	}

	// Removing asks first; the confirmation removes it.
	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/components/api/delete?lang=en", nil); status != 200 || !strings.Contains(body, `name="confirm" value="api"`) {
		t.Errorf("removing without confirmation = %d\n%s", status, body)
	}
	if cs, _ := s.Components.FindComponents(ctx, slokeeper.ComponentFilter{ID: "api"}); len(cs) != 1 {
		t.Fatal("removed before the confirmation")
	}
	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/components/api/delete?lang=en", url.Values{"confirm": {"api"}}); status != 200 || !strings.Contains(body, "The component is removed") {
		t.Errorf("confirming the removal = %d\n%s", status, body)
	}
	if cs, _ := s.Components.FindComponents(ctx, slokeeper.ComponentFilter{ID: "api"}); len(cs) != 0 {
		t.Error("still there after the confirmation")
	}
	if _, body := fetch(t, admin, "GET", s.URL()+"/admin/audit?lang=en&action=component", nil); !strings.Contains(body, "component.put") || !strings.Contains(body, "component.remove") {
		t.Errorf("the ledger lacks the component changes:\n%s", body)
	}
}

// TestConsoleMaintenance: an emergency window needs a reason and is
// marked emergency in the ledger; a reschedule moves the window, with
// its reason in the ledger; support cannot reschedule.
func TestConsoleMaintenance(t *testing.T) { onEachEngine(t, testConsoleMaintenance) }

func testConsoleMaintenance(t *testing.T, e engine) {
	s := consoleServer(t, e)
	ctx := context.Background()
	admin, support := session(t, s, "alice", slokeeper.RoleAdmin), session(t, s, "sora", slokeeper.RoleSupport)
	loc := s.Policy.Location()
	local := func(d time.Duration) string { return time.Now().Add(d).In(loc).Format("2006-01-02T15:04") }

	emergency := url.Values{"title_ja": {"緊急のデータベース更新"}, "title_en": {"Urgent database patch"}, "start": {local(time.Hour)}, "end": {local(2 * time.Hour)}, "emergency": {"1"}}
	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/maintenances?lang=en", emergency); status != 400 || !strings.Contains(body, "An emergency window needs a reason") {
		t.Errorf("an emergency without a reason = %d\n%s", status, body)
	}
	emergency.Set("reason", "security fix CVE-2026-0001")
	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/maintenances?lang=en", emergency); status != 200 || !strings.Contains(body, "[Emergency] Urgent database patch") {
		t.Errorf("an emergency with a reason = %d\n%s", status, body)
	}

	planned := url.Values{"title_ja": {"定期メンテナンス"}, "title_en": {"Routine maintenance"}, "start": {local(10 * 24 * time.Hour)}, "end": {local(10*24*time.Hour + time.Hour)}}
	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/maintenances?lang=en", planned); status != 200 || !strings.Contains(body, "Reschedule") {
		t.Fatalf("planned = %d\n%s", status, body)
	}
	ms, _ := s.Schedule.Recent(ctx)
	var id string
	for _, m := range ms {
		if !m.Emergency {
			id = m.ID
		}
	}
	moved := url.Values{"start": {local(12 * 24 * time.Hour)}, "end": {local(12*24*time.Hour + 2*time.Hour)}, "reason": {"the vendor moved the upgrade"}}
	if status, body := fetch(t, support, "POST", s.URL()+"/admin/maintenances/"+id+"/reschedule?lang=en", moved); status != 403 {
		t.Errorf("support rescheduling = %d\n%s", status, body)
	}
	tooSoon := url.Values{"start": {local(24 * time.Hour)}, "end": {local(25 * time.Hour)}, "reason": {"hurry"}}
	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/maintenances/"+id+"/reschedule?lang=en", tooSoon); status != 400 || !strings.Contains(body, "announced at least") {
		t.Errorf("moving a planned window inside the notice = %d\n%s", status, body)
	}
	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/maintenances/"+id+"/reschedule?lang=en", moved); status != 200 || !strings.Contains(body, "The maintenance is moved") {
		t.Errorf("rescheduling = %d\n%s", status, body)
	}
	got, _ := s.Schedule.Store.FindMaintenances(ctx, slokeeper.MaintenanceFilter{ID: id})
	if len(got) != 1 || got[0].Start.In(loc).Format("2006-01-02T15:04") != moved.Get("start") {
		t.Errorf("after rescheduling: %+v, want start %s", got, moved.Get("start"))
	}
	_, body := fetch(t, admin, "GET", s.URL()+"/admin/audit?lang=en&action=maintenance", nil)
	if !strings.Contains(body, "maintenance.reschedule") || !strings.Contains(body, "the vendor moved the upgrade") || !strings.Contains(body, "emergency: security fix CVE-2026-0001") {
		t.Errorf("the ledger lacks the reschedule's reason or the emergency:\n%s", body)
	}
}

// TestConsoleIncidentPage: the incident page fills an update from a
// usual text, posts it and comes back; a postmortem waits for the
// resolution, needs both languages, and is shown on the public page.
func TestConsoleIncidentPage(t *testing.T) { onEachEngine(t, testConsoleIncidentPage) }

func testConsoleIncidentPage(t *testing.T, e engine) {
	s := consoleServer(t, e)
	ctx := context.Background()
	admin, support := session(t, s, "alice", slokeeper.RoleAdmin), session(t, s, "sora", slokeeper.RoleSupport)
	if status, body := fetch(t, admin, "POST", s.URL()+"/admin/components?lang=en", goodComponent("api")); status != 200 {
		t.Fatalf("adding a component = %d\n%s", status, body)
	}
	open := url.Values{"title_ja": {"APIの応答遅延"}, "title_en": {"Slow API"}, "impact": {"major"}, "component": {"api"}, "body_ja": {"調査しております。"}, "body_en": {"Investigating."}}
	if status, body := fetch(t, support, "POST", s.URL()+"/admin/incidents?lang=en", open); status != 200 {
		t.Fatalf("opening = %d\n%s", status, body)
	}
	incs, _ := s.Incidents.FindIncidents(ctx, slokeeper.IncidentFilter{Open: true})
	if len(incs) != 1 {
		t.Fatalf("%d open incidents", len(incs))
	}
	id := incs[0].ID
	page := s.URL() + "/admin/incidents/" + id

	status, body := fetch(t, support, "GET", page+"?lang=ja&template=identified", nil)
	if status != 200 || !strings.Contains(body, "APIにおいて発生している障害の原因を特定いたしました。") || !strings.Contains(body, `<option value="identified" selected>`) ||
		!strings.Contains(body, "We have identified the cause of the problem affecting API") {
		t.Errorf("the identified text = %d\n%s", status, body)
	}
	tmpl, _ := findIncidentTemplate("identified")
	ja, en := tmpl.fill([]string{"API"}, []string{"API"}, "", "", "", "")
	if status, body := fetch(t, support, "POST", page+"/updates?lang=en&back=incident", url.Values{"status": {"identified"}, "body_ja": {ja}, "body_en": {en}}); status != 200 ||
		!strings.Contains(body, "The update is posted") || !strings.Contains(body, `<strong id="incident-status">Identified</strong>`) {
		t.Errorf("posting from the incident page = %d\n%s", status, body)
	}

	if status, body := fetch(t, support, "POST", page+"/updates?lang=en&back=incident", url.Values{"status": {"fixed"}, "body_ja": {"直しました。"}, "body_en": {"Fixed."}}); status != 400 ||
		!strings.Contains(body, "Please check the form") || !strings.Contains(body, "直しました。</textarea>") {
		t.Errorf("a bad status from the incident page = %d, want 400 with the texts kept\n%s", status, body)
	}

	pm := url.Values{"postmortem_ja": {"原因はディスクの枯渇でした。"}, "postmortem_en": {"A full disk."}}
	if status, body := fetch(t, support, "POST", page+"/postmortem?lang=en", pm); status != 409 || !strings.Contains(body, "resolve the incident first") {
		t.Errorf("a postmortem before the resolution = %d\n%s", status, body)
	}
	if status, body := fetch(t, support, "POST", page+"/updates?lang=en&back=incident", url.Values{"status": {"resolved"}, "body_ja": {"復旧いたしました。"}, "body_en": {"Resolved."}}); status != 200 {
		t.Fatalf("resolving = %d\n%s", status, body)
	}
	if status, body := fetch(t, support, "GET", page+"?lang=ja&template=postmortem", nil); status != 200 || !strings.Contains(body, "■ 再発防止策") || !strings.Contains(body, "■ 影響範囲\nAPI") {
		t.Errorf("the postmortem outline = %d\n%s", status, body)
	}
	if status, body := fetch(t, support, "POST", page+"/postmortem?lang=en", url.Values{"postmortem_ja": {"原因はディスクの枯渇でした。"}}); status != 400 ||
		!strings.Contains(body, "in Japanese and in English") || !strings.Contains(body, "原因はディスクの枯渇でした。</textarea>") {
		t.Errorf("a postmortem in Japanese only = %d\n%s", status, body)
	}
	if status, body := fetch(t, support, "POST", page+"/postmortem?lang=en", pm); status != 200 || !strings.Contains(body, "The postmortem is published") {
		t.Errorf("the postmortem = %d\n%s", status, body)
	}
	if status, body := fetch(t, support, "POST", page+"/updates?lang=en&back=incident", url.Values{"status": {"resolved"}, "body_ja": {"再度"}, "body_en": {"Again"}}); status != 409 ||
		!strings.Contains(body, "This could not be done") {
		t.Errorf("an update to a resolved incident = %d\n%s", status, body)
	}
	if status, body := fetch(t, support, "GET", s.URL()+"/incidents/"+id+"?lang=ja", nil); status != 200 || !strings.Contains(body, "原因はディスクの枯渇でした。") {
		t.Errorf("the public incident page = %d\n%s", status, body)
	}
	if _, body := fetch(t, admin, "GET", s.URL()+"/admin/audit?lang=en&action=incident", nil); !strings.Contains(body, "incident.postmortem") {
		t.Errorf("the ledger lacks the postmortem:\n%s", body)
	}
}
