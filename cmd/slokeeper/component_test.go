package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"slokeeper"
)

// TestComponents: components come from a file, are checked by the
// running server, and a bad file is refused with where and why.
func TestComponents(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"status":"ok"}`)) }))
	defer srv.Close()
	cfg := testConfig()
	cfg.Data = t.TempDir()
	run := func(args ...string) (string, string, int) { return cliRun(t, append(args, "--data", cfg.Data)...) }
	file := filepath.Join(t.TempDir(), "components.yaml")
	os.WriteFile(file, []byte(`components:
  - id: api
    group: cloud
    name_ja: クラウド実行環境
    name_en: Cloud runtime
    target: 99.95%
    interval: 5s
    probe:
      kind: http
      target: `+srv.URL+`/healthz
      body: '"status":\s*"ok"'
  - id: editor
    group: cloud
    name_ja: エディタ
    name_en: Editor
    probe: {kind: tcp, target: "`+strings.TrimPrefix(srv.URL, "http://")+`"}
`), 0o600)
	// The probes' targets are on loopback: refused unless allowed.
	if _, stderr, code := run("component", "apply", file); code != 1 || !strings.Contains(stderr, file+":2:5:") ||
		!strings.Contains(stderr, "loopback address") || !strings.Contains(stderr, "probe_allow_targets (--probe-allow-targets") {
		t.Errorf("apply of loopback probes, not allowed: exit %d %s", code, stderr)
	}
	cfg.ProbeAllowTargets = "loopback"
	if out, stderr, code := run("component", "apply", file, "--probe-allow-targets", cfg.ProbeAllowTargets); code != 0 || !strings.Contains(out, "2 components applied") {
		t.Fatalf("apply: exit %d %s%s", code, out, stderr)
	}
	out, _, _ := run("component", "list")
	if !regexp.MustCompile(`api\s+cloud\s+クラウド実行環境 / Cloud runtime\s+http http://\S+/healthz\s+5s\s+3\s+99.95%`).MatchString(out) ||
		!regexp.MustCompile(`editor\s+cloud\s+エディタ / Editor\s+tcp \S+\s+1m0s\s+3\s+policy`).MatchString(out) {
		t.Errorf("list:\n%s", out)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("components:\n  - id: api\n    name_ja: x\n    name_en: x\n    probe: {kind: ping, target: x}\n    colour: red\n"), 0o600)
	if _, stderr, code := run("component", "apply", bad); code != 1 || !strings.Contains(stderr, bad+":6:5:") || !strings.Contains(stderr, "colour") {
		t.Errorf("an unknown key: exit %d %s", code, stderr)
	}
	os.WriteFile(bad, []byte("components:\n  - id: api\n    name_ja: x\n    name_en: x\n    probe: {kind: ping, target: x}\n"), 0o600)
	if _, stderr, code := run("component", "apply", bad); code != 1 || !strings.Contains(stderr, bad+":2:") || !strings.Contains(stderr, `"ping"`) {
		t.Errorf("a bad probe: exit %d %s", code, stderr)
	}

	// The server checks them.
	m := MustRunMain(t, cfg)
	waitFor(t, "the server's first checks", func() bool {
		rs, err := m.Store.Components.FindCheckResults(context.Background(), "api", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		return err == nil && len(rs) > 0 && rs[0].OK && rs[0].Node == m.node()
	})
	api, _ := m.Store.Components.FindComponents(context.Background(), slokeeper.ComponentFilter{ID: "api"})
	if s, err := m.Monitor.State(context.Background(), api[0]); err != nil || s.Down {
		t.Errorf("state = %+v, %v", s, err)
	}
	// The public status: both components, operational, with 90 daily bars
	// (today's counted once tallied), and the target from the file or the policy.
	if err := m.Monitor.Tally(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	r := get(t, http.DefaultClient, m.HTTP.URL()+"/api/v1/status")
	var v struct {
		Status     string
		Components []struct {
			ID, Status string
			Target     float64
			Budget     struct{ Left float64 } `json:"error_budget"`
			Name       struct{ JA, EN string }
			Days       []struct {
				Day    string
				Uptime *float64
			}
		}
	}
	if err := json.Unmarshal([]byte(r.body), &v); err != nil || r.status != 200 {
		t.Fatalf("GET /api/v1/status = %d %s", r.status, r.body)
	}
	if v.Status != "operational" || len(v.Components) != 2 || v.Components[0].ID != "api" || v.Components[0].Target != 0.9995 ||
		v.Components[1].Target != 0.999 || v.Components[0].Name.JA != "クラウド実行環境" || len(v.Components[0].Days) != 90 {
		t.Fatalf("status = %s", r.body)
	}
	if v.Components[0].Budget.Left != 1 {
		t.Errorf("a healthy component's error budget left = %v, want 1", v.Components[0].Budget.Left)
	}
	if today := v.Components[0].Days[89]; today.Uptime == nil || *today.Uptime != 1 || today.Day != time.Now().In(m.Policy.Location()).Format(time.DateOnly) {
		t.Errorf("today's bar = %+v", today)
	}
	if r := get(t, http.DefaultClient, m.HTTP.URL()+"/api/v1/status?days=0"); r.status != 400 {
		t.Errorf("days=0 = %d", r.status)
	}
	// The API: staff list them; admins and operators change them.
	ops, sam := signIn(t, m, "ops", "operator"), signIn(t, m, "sam", "support")
	body := `{"name_ja":"MQTT ブローカー","name_en":"MQTT broker","group":"device","interval":"15s","probe":{"kind":"tcp","target":"127.0.0.1:1883","timeout":"3s"}}`
	if r := put(t, sam, m.HTTP.URL()+"/api/v1/components/mqtt", body); r.status != 403 {
		t.Errorf("support changing a component = %d", r.status)
	}
	if r := put(t, ops, m.HTTP.URL()+"/api/v1/components/mqtt", body); r.status != 200 || !strings.Contains(r.body, `"interval": "15s"`) || !strings.Contains(r.body, `"timeout": "3s"`) {
		t.Errorf("PUT = %d %s", r.status, r.body)
	}
	if r := put(t, ops, m.HTTP.URL()+"/api/v1/components/bad", `{"name_ja":"x","name_en":"x","interval":"soon","probe":{"kind":"tcp","target":"x:1"}}`); r.status != 400 || !strings.Contains(r.body, "not a duration") {
		t.Errorf("a bad interval = %d %s", r.status, r.body)
	}
	// Loopback is allowed, the cloud metadata address is not.
	for _, target := range []string{`"http://169.254.169.254/latest/meta-data/"`, `"http://10.0.0.1/"`} {
		if r := put(t, ops, m.HTTP.URL()+"/api/v1/components/meta", `{"name_ja":"x","name_en":"x","probe":{"kind":"http","target":`+target+`}}`); r.status != 400 || !strings.Contains(r.body, "probe_allow_targets") {
			t.Errorf("a probe of %s = %d %s", target, r.status, r.body)
		}
	}
	if r := get(t, sam, m.HTTP.URL()+"/api/v1/components?group=device"); r.status != 200 || !strings.Contains(r.body, `"id": "mqtt"`) || strings.Contains(r.body, `"id": "api"`) {
		t.Errorf("GET components = %d %s", r.status, r.body)
	}
	req, _ := http.NewRequest("DELETE", m.HTTP.URL()+"/api/v1/components/mqtt", nil)
	if resp, err := ops.Do(req); err != nil || resp.StatusCode != 204 {
		t.Errorf("DELETE = %v %v", resp, err)
	}
	m.Close(context.Background())
	if out, _, _ := run("audit", "show", "--limit", "0"); !strings.Contains(out, "component.put") || !strings.Contains(out, "component.remove") {
		t.Errorf("the ledger lacks the component changes")
	}

	// --prune removes what the file no longer lists.
	os.WriteFile(file, []byte("components:\n  - id: api\n    name_ja: API\n    name_en: API\n    probe: {kind: tcp, target: \"127.0.0.1:1\"}\n"), 0o600)
	if out, _, code := run("component", "apply", file, "--prune", "--probe-allow-targets", "127.0.0.1/32"); code != 0 || !strings.Contains(out, "1 components applied, 1 removed") {
		t.Errorf("apply --prune: exit %d %s", code, out)
	}
}
