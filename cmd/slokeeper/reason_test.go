package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"slokeeper"
)

// TestProbeFailureReason: why a probe failed ("status 503") is shown to
// staff in the API, the console and the CLI, and never on the public page
// or the public status API.
func TestProbeFailureReason(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	cfg := testConfig()
	cfg.Data = t.TempDir()
	cfg.ProbeAllowTargets = "loopback"
	m := MustRunMain(t, cfg)
	bg := context.Background()
	if err := m.Store.Components.PutComponent(bg, &slokeeper.Component{ID: "runtime", NameJA: "クラウド実行環境", NameEN: "Cloud runtime",
		Interval: slokeeper.Duration(5 * time.Second), Failures: 1, Probe: slokeeper.Probe{Kind: slokeeper.ProbeHTTP, Target: down.URL}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a failed check", func() bool {
		rs, err := m.Store.Components.FindCheckResults(bg, "runtime", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		return err == nil && len(rs) > 0 && !rs[len(rs)-1].OK
	})
	sam := signIn(t, m, "sam", "support")
	if r := get(t, sam, m.HTTP.URL()+"/api/v1/components"); r.status != 200 || !strings.Contains(r.body, `"reason": "`) || !strings.Contains(r.body, "503") {
		t.Errorf("staff's GET /api/v1/components = %d %s", r.status, r.body)
	}
	if r := get(t, sam, m.HTTP.URL()+"/admin/status?lang=en"); r.status != 200 || !strings.Contains(r.body, "Why it failed") || !strings.Contains(r.body, "503") {
		t.Errorf("the console = %d, no reason:\n%s", r.status, r.body)
	}
	for _, path := range []string{"/api/v1/status", "/?lang=en", "/?lang=ja"} {
		if r := get(t, http.DefaultClient, m.HTTP.URL()+path); r.status != 200 || strings.Contains(r.body, "503") || strings.Contains(r.body, "reason") {
			t.Errorf("public %s shows why the probe failed: %d %s", path, r.status, r.body)
		}
	}
	m.Close(bg)
	if out, stderr, code := cliRun(t, "component", "list", "--data", cfg.Data); code != 0 || !strings.Contains(out, "failed: ") || !strings.Contains(out, "503") {
		t.Errorf("component list: exit %d\n%s%s", code, out, stderr)
	}
}

// TestOpenIncidentBanner: with every component up (here: none at all), an
// open incident makes the banner and the status API say degraded; the
// console's update form starts from the incident's current status; once
// resolved, all is well again.
func TestOpenIncidentBanner(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	m := MustRunMain(t, cfg)
	sam := signIn(t, m, "sam", "support")
	r := postJSON(t, sam, m.HTTP.URL()+"/api/v1/incidents", `{"title_ja":"一部のお客様でログインできません","title_en":"Some customers cannot sign in",
		"impact":"minor","body_ja":"調査しています。","body_en":"We are investigating."}`)
	if r.status != 201 {
		t.Fatalf("open = %d %s", r.status, r.body)
	}
	incs, _ := m.Store.Incidents.FindIncidents(context.Background(), slokeeper.IncidentFilter{Open: true})
	id := incs[0].ID
	if p := get(t, http.DefaultClient, m.HTTP.URL()+"/?lang=ja"); !strings.Contains(p.body, `<p class="banner degraded" role="status">一部のサービスで障害が発生しています</p>`) {
		t.Errorf("banner under an open incident:\n%s", p.body)
	}
	if s := get(t, http.DefaultClient, m.HTTP.URL()+"/api/v1/status"); !strings.Contains(s.body, `"status": "degraded"`) {
		t.Errorf("status API under an open incident: %s", s.body)
	}
	// The feed's entries link to the incident's permalink.
	if f := get(t, http.DefaultClient, m.HTTP.URL()+"/feed.atom?lang=en"); !strings.Contains(f.body, "/incidents/"+id+"?lang=en") {
		t.Errorf("feed without the permalink:\n%s", f.body)
	}
	if r := postJSON(t, sam, m.HTTP.URL()+"/api/v1/incidents/"+id+"/updates", `{"status":"monitoring","body_ja":"復旧を確認しています。","body_en":"We are watching the fix."}`); r.status != 201 {
		t.Fatalf("update = %d %s", r.status, r.body)
	}
	console := get(t, sam, m.HTTP.URL()+"/admin/status?lang=ja").body
	if !strings.Contains(console, `<option value="monitoring" selected>`) || strings.Contains(console, `<option value="investigating" selected>`) {
		t.Errorf("the update form does not start from monitoring:\n%s", console)
	}
	if r := postJSON(t, sam, m.HTTP.URL()+"/api/v1/incidents/"+id+"/updates", `{"status":"resolved","body_ja":"復旧しました。","body_en":"Resolved."}`); r.status != 201 {
		t.Fatalf("resolve = %d %s", r.status, r.body)
	}
	if p := get(t, http.DefaultClient, m.HTTP.URL()+"/?lang=en"); !strings.Contains(p.body, `<p class="banner operational" role="status">All systems operational</p>`) {
		t.Errorf("banner after the incident was resolved:\n%s", p.body)
	}
}
