package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"slokeeper"
)

// send makes one request with a body of the given type and headers.
func send(t *testing.T, c *http.Client, method, u, contentType, body string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// createToken makes an API token for an operator with the CLI.
func createToken(t *testing.T, cfg Config, operator, scope string) (token, id string) {
	t.Helper()
	args := []string{"operator", "token", "create", "--data", cfg.Data, "--operator", operator, "--name", "test", "--scope", scope, "--expires", "30d"}
	if cfg.DB != "" {
		args = append(args, "--db", cfg.DB)
	}
	out, stderr, _ := cliRun(t, args...)
	tm := regexp.MustCompile(`token:   (sko_\S+)\nid:      (\S+)`).FindStringSubmatch(out)
	if tm == nil {
		t.Fatalf("token create:\n%s%s", out, stderr)
	}
	return tm[1], tm[2]
}

// publicWrites are the routes that change something without an
// operator: sign-in itself, subscribers' own links, log ingestion (source
// tokens). Every other unsafe route needs a write-scoped principal.
var publicWrites = map[string]bool{
	"POST /api/v1/auth/login": true, "POST /api/v1/auth/tokens": true, "POST /api/v1/auth/logout": true, "POST /admin/login": true, "POST /admin/logout": true,
	"POST /subscribe": true, "POST /subscribe/confirm": true, "POST /unsubscribe": true,
	"POST /api/v1/logs": true, "POST /api/v1/agent/logs": true, "POST /v1/logs": true,
	"POST /record-logs": true, "POST /device/device-state/get": true, "POST /device/device-state/update": true,
	"POST /notify-status": true, "POST /auth/request": true, "POST /auth/tokens": true,
}

// TestReadTokenCannotWrite: a read-scoped API token sent to every route
// that changes something, console forms included, gets 403 and changes
// nothing. The routes come from the server itself, so a new one is
// checked too.
func TestReadTokenCannotWrite(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	cfg.ProbeAllowTargets = "loopback" // the component set up below is probed on loopback
	m := MustRunMain(t, cfg)
	base := m.HTTP.URL()
	alice := signIn(t, m, "alice", "admin")
	signIn(t, m, "bob", "admin")

	// Something to change: a component, an incident, a maintenance
	// window, a webhook, an account and a grant.
	at := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }
	setup := []struct{ method, path, body string }{
		{"PUT", "/api/v1/components/api", `{"name_ja":"API","name_en":"API","interval":"1h","probe":{"kind":"tcp","target":"127.0.0.1:1","timeout":"1s"}}`},
		{"POST", "/api/v1/incidents", `{"components":["api"],"title_ja":"障害","title_en":"Outage","impact":"minor","body_ja":"調査中","body_en":"Investigating"}`},
		{"POST", "/api/v1/maintenances", `{"title_ja":"交換","title_en":"Replacement","start":"` + at(10*24*time.Hour) + `","end":"` + at(10*24*time.Hour+time.Hour) + `"}`},
		{"POST", "/api/v1/subscribers", `{"url":"https://hooks.example.jp/x","lang":"ja"}`},
		{"POST", "/api/v1/accounts", `{"id":"acct-1","name":"工場A"}`},
		{"POST", "/api/v1/grants", `{"account":"acct-1","scope":"document","reason":"ticket 42","duration":"1h"}`},
	}
	ids := map[string]string{}
	for _, s := range setup {
		r := send(t, alice, s.method, base+s.path, "application/json", s.body)
		if r.status >= 300 {
			t.Fatalf("%s %s = %d %s", s.method, s.path, r.status, r.body)
		}
		if m := regexp.MustCompile(`"id": "([^"]+)"`).FindStringSubmatch(r.body); m != nil {
			ids[s.path] = m[1]
		}
	}
	snapshot := func() string {
		var b strings.Builder
		// The components as configured: their live state (what the
		// probes last saw) changes by itself.
		var comps struct{ Components []map[string]any }
		if err := json.Unmarshal([]byte(get(t, alice, base+"/api/v1/components").body), &comps); err != nil {
			t.Fatal(err)
		}
		for _, c := range comps.Components {
			delete(c, "state")
			fmt.Fprintf(&b, "%v\n", c)
		}
		for _, p := range []string{"/api/v1/incidents", "/api/v1/maintenances?all=1", "/api/v1/subscribers", "/api/v1/grants"} {
			b.WriteString(get(t, alice, base+p).body)
		}
		// Evidence, but for what the server records of itself on its own
		// clock (its self-check, heartbeats, the nodes alert, probe
		// confirmations), which may land between two snapshots.
		own := map[string]bool{"self_check": true, "node_stopped": true, "node_back": true, "nodes_below_policy": true,
			"nodes_restored": true, "confirmations_short": true, "database_outage": true}
		var ev struct{ Evidence []slokeeper.Evidence }
		if err := json.Unmarshal([]byte(get(t, alice, base+"/api/v1/evidence?limit=1000").body), &ev); err != nil {
			t.Fatal(err)
		}
		for _, e := range ev.Evidence {
			if !own[e.Action] {
				fmt.Fprintf(&b, "%+v\n", e)
			}
		}
		return b.String()
	}
	before := snapshot()
	read, _ := createToken(t, cfg, "alice", "read")
	bearer := []string{"Authorization", "Bearer " + read}
	if r := get(t, http.DefaultClient, base+"/api/v1/incidents", bearer...); r.status != 200 {
		t.Fatalf("the read token cannot read: %d %s", r.status, r.body)
	}

	// Bodies that would succeed with a write scope.
	form := func(v url.Values) string { return v.Encode() }
	bodies := map[string]string{
		"POST /admin/incidents":                  form(url.Values{"title_ja": {"偽の障害"}, "title_en": {"Fake"}, "impact": {"major"}, "component": {"api"}, "body_ja": {"x"}, "body_en": {"x"}}),
		"POST /admin/incidents/{id}/updates":     form(url.Values{"status": {"resolved"}, "body_ja": {"解決"}, "body_en": {"Resolved"}}),
		"POST /admin/maintenances":               form(url.Values{"title_ja": {"x"}, "title_en": {"x"}, "start": {time.Now().Add(9 * 24 * time.Hour).Format("2006-01-02T15:04")}, "end": {time.Now().Add(9*24*time.Hour + time.Hour).Format("2006-01-02T15:04")}}),
		"POST /admin/subscribers":                form(url.Values{"url": {"https://evil.example/x"}, "lang": {"en"}}),
		"POST /api/v1/incidents/{id}/updates":    `{"status":"resolved","body_ja":"解決","body_en":"Resolved"}`,
		"POST /api/v1/incidents":                 `{"components":["api"],"title_ja":"偽","title_en":"Fake","impact":"major","body_ja":"x","body_en":"x"}`,
		"POST /api/v1/subscribers":               `{"url":"https://evil.example/x","lang":"en"}`,
		"POST /api/v1/auth/password":             `{"old":"a long test password","new":"an attacker's password"}`,
		"PUT /api/v1/accounts/{id}/{kind}/{key}": `{"x":1}`,
		"POST /api/v1/accounts":                  `{"id":"acct-2","name":"x"}`,
	}
	values := map[string]string{"name": "bob", "kind": "documents", "key": "k"}
	checked := 0
	for _, pattern := range m.HTTP.Routes() {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok || method == "GET" || method == "HEAD" || publicWrites[pattern] {
			continue
		}
		u := regexp.MustCompile(`\{(\w+)\$?\}`).ReplaceAllStringFunc(path, func(w string) string {
			name := strings.Trim(w, "{$}")
			if name != "id" {
				return values[name]
			}
			switch {
			case strings.Contains(path, "/incidents/"):
				return ids["/api/v1/incidents"]
			case strings.Contains(path, "/maintenances/"):
				return ids["/api/v1/maintenances"]
			case strings.Contains(path, "/subscribers/"):
				return ids["/api/v1/subscribers"]
			case strings.Contains(path, "/components/"):
				return "api"
			case strings.Contains(path, "/accounts/"):
				return "acct-1"
			case strings.Contains(path, "/grants/"):
				return ids["/api/v1/grants"]
			}
			return "x"
		})
		body, ctype := bodies[pattern], "application/json"
		if strings.HasPrefix(path, "/admin/") {
			ctype = "application/x-www-form-urlencoded"
		} else if body == "" {
			body = "{}"
		}
		r := send(t, http.DefaultClient, method, base+u, ctype, body, bearer...)
		if r.status != http.StatusForbidden {
			t.Errorf("%s with a read token = %d, want 403: %.200s", pattern, r.status, r.body)
		}
		checked++
	}
	if checked < 20 {
		t.Errorf("only %d write routes checked; the route list looks wrong: %v", checked, m.HTTP.Routes())
	}
	if after := snapshot(); after != before {
		t.Errorf("a read token changed the state:\nbefore %s\nafter  %s", before, after)
	}
	var me struct{ Operator struct{ Name string } }
	json.Unmarshal([]byte(get(t, alice, base+"/api/v1/auth/me").body), &me)
	if me.Operator.Name != "alice" {
		t.Errorf("alice's session after the read token's attempts: %+v", me)
	}
}
