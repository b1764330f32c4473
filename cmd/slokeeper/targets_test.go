package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWebhookTargets: staff cannot add a webhook to loopback, the cloud
// metadata address or a private address unless webhook_allow_targets
// allows it; the allow lists are read from the file, the environment and
// flags, and a bad one stops the start with its name.
func TestWebhookTargets(t *testing.T) {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer receiver.Close()
	cfg := testConfig()
	cfg.Data = t.TempDir()
	m := MustRunMain(t, cfg)
	admin := signIn(t, m, "alice", "admin")
	for _, u := range []string{receiver.URL + "/hook", "http://169.254.169.254/latest/meta-data/", "https://192.168.1.10/hook", "http://[::ffff:127.0.0.1]:8080/", "http://localhost:8080/"} {
		r := postJSON(t, admin, m.HTTP.URL()+"/api/v1/subscribers", `{"url":"`+u+`","lang":"en"}`)
		if r.status != 400 || !strings.Contains(r.body, "webhook_allow_targets (--webhook-allow-targets, SLOKEEPER_WEBHOOK_ALLOW_TARGETS)") {
			t.Errorf("a webhook to %s = %d %s", u, r.status, r.body)
		}
	}
	if r := postJSON(t, admin, m.HTTP.URL()+"/api/v1/subscribers", `{"url":"https://hooks.example.jp/status","lang":"en"}`); r.status/100 != 2 {
		t.Errorf("a public webhook = %d %s", r.status, r.body)
	}

	allowed := testConfig()
	allowed.Data = t.TempDir()
	allowed.WebhookAllowTargets = "loopback"
	m2 := MustRunMain(t, allowed)
	if r := postJSON(t, signIn(t, m2, "alice", "admin"), m2.HTTP.URL()+"/api/v1/subscribers", `{"url":"`+receiver.URL+`/hook","lang":"en"}`); r.status/100 != 2 {
		t.Errorf("an allowed loopback webhook = %d %s", r.status, r.body)
	}
}

func TestTargetsConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "slokeeper.yaml")
	os.WriteFile(file, []byte("probe_allow_targets: private, 127.0.0.1\nwebhook_allow_targets: 10.1.0.0/16\n"), 0o600)
	cfg, err := loadTestConfig(t, []string{"--config", file}, map[string]string{"SLOKEEPER_WEBHOOK_ALLOW_TARGETS": "loopback"})
	if err != nil || cfg.ProbeAllowTargets != "private, 127.0.0.1" || cfg.WebhookAllowTargets != "loopback" {
		t.Fatalf("loaded %q, %q, %v", cfg.ProbeAllowTargets, cfg.WebhookAllowTargets, err)
	}
	for env, v := range map[string]string{"SLOKEEPER_WEBHOOK_ALLOW_TARGETS": "everything", "SLOKEEPER_PROBE_ALLOW_TARGETS": "10.0.0.0/33"} {
		if _, err := loadTestConfig(t, nil, map[string]string{env: v}); err == nil || !strings.Contains(err.Error(), strings.ToLower(strings.TrimPrefix(env, "SLOKEEPER_"))) {
			t.Errorf("%s=%s: %v", env, v, err)
		}
	}
}
