package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestPublicDisclosure: the evidence is for staff only, and who wrote an
// incident's timeline (operator names, token IDs, nodes) is shown to
// staff, never on the public API, the feed or the page.
func TestPublicDisclosure(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	m := MustRunMain(t, cfg)
	base := m.HTTP.URL()
	alice := signIn(t, m, "alice", "operator")
	auditor := signIn(t, m, "olga", "auditor")
	token, tokenID := createToken(t, cfg, "alice", "write")
	r := postJSON(t, http.DefaultClient, base+"/api/v1/incidents", `{"title_ja":"遅延","title_en":"Delays","impact":"minor","body_ja":"調査中","body_en":"Investigating"}`,
		"Authorization", "Bearer "+token)
	if r.status != 201 {
		t.Fatalf("open incident = %d %s", r.status, r.body)
	}

	if r := get(t, http.DefaultClient, base+"/api/v1/evidence"); r.status != 401 {
		t.Errorf("anonymous evidence = %d, want 401", r.status)
	}
	for _, c := range []*http.Client{alice, auditor} {
		if r := get(t, c, base+"/api/v1/evidence"); r.status != 200 || !strings.Contains(r.body, "incident.notice") || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("staff evidence = %d %q %.200s", r.status, r.header.Get("Cache-Control"), r.body)
		}
	}
	if r := get(t, http.DefaultClient, base+"/api/v1/evidence", "Authorization", "Bearer "+token); r.status != 200 {
		t.Errorf("evidence with a token = %d", r.status)
	}

	secrets := []string{"alice", tokenID, "operator:", `"by"`, cfg.Node}
	for _, path := range []string{"/api/v1/incidents", "/feed.atom?lang=en", "/?lang=en", "/?lang=ja", "/api/v1/status", "/api/v1/maintenances"} {
		r := get(t, http.DefaultClient, base+path)
		if r.status != 200 {
			t.Errorf("GET %s = %d", path, r.status)
			continue
		}
		for _, s := range secrets {
			if strings.Contains(r.body, s) {
				t.Errorf("the public %s shows %q", path, s)
			}
		}
		if strings.Contains(r.body, "/api/v1/evidence") {
			t.Errorf("the public %s links the staff-only evidence", path)
		}
	}
	if r := get(t, alice, base+"/api/v1/incidents"); !strings.Contains(r.body, `"by": "operator:alice token:`+tokenID+`"`) || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("staff do not see who wrote it: %q %s", r.header.Get("Cache-Control"), r.body)
	}
}
