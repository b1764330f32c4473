package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/storetest"
)

// agentHarness copies the Node reproduction of the enebular-agent's
// transport (testdata/agent) to a temporary directory and installs its
// npm packages there with npm ci, from the committed lock file. Without
// node and npm the test skips, except under CI=true, where it fails.
func agentHarness(t *testing.T) (node, dir string) {
	t.Helper()
	node, nerr := exec.LookPath("node")
	npm, perr := exec.LookPath("npm")
	if nerr != nil || perr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node and npm are required under CI=true: %v %v", nerr, perr)
		}
		t.Skipf("no node or npm (scripts/ensure-services installs them under CI=true): %v %v", nerr, perr)
	}
	dir = t.TempDir()
	for _, name := range []string{"package.json", "package-lock.json", "agent.js"} {
		b, err := os.ReadFile(filepath.Join("testdata", "agent", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--prefer-offline")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	return node, dir
}

type agentEvent struct {
	Level   string         `json:"level"`
	Message string         `json:"message"`
	Meta    map[string]any `json:"meta"`
}

// agentEvents are what a gateway's agent logs: Japanese text, Node-RED's
// own lines, nested attrs, a non-object attrs, one message over the line
// limit and a long Japanese one, enough for several chunks.
func agentEvents() (events []agentEvent, tooLong string) {
	tooLong = strings.Repeat("L", 70000)
	for i := range 1500 {
		ev := agentEvent{Level: "info", Message: fmt.Sprintf("温度センサー %d の値を受信しました: %s", i, strings.Repeat("測定値", 20+i%9)), Meta: map[string]any{"module": "internal"}}
		switch i % 10 {
		case 3:
			ev.Level, ev.Meta = "warn", map[string]any{"module": "node-red", "attrs": map[string]any{"flow": map[string]any{"id": fmt.Sprintf("f-%d", i), "nodes": []any{1.0, "二", true}}}}
		case 6:
			ev.Level, ev.Meta = "error", map[string]any{"attrs": "接続が切れました"}
		case 8:
			ev.Level, ev.Meta = "debug", nil
		}
		if i == 700 {
			ev.Message = strings.Repeat("警告", 10000) // 20,000 characters, 60,000 bytes
		}
		events = append(events, ev)
	}
	events = append(events, agentEvent{Level: "error", Message: tooLong, Meta: map[string]any{"module": "internal"}})
	return events, tooLong
}

type agentReport struct {
	AuthRequest struct{ Status int } `json:"authRequest"`
	Auth        struct {
		Status   int  `json:"status"`
		Accepted bool `json:"accepted"`
	} `json:"auth"`
	StateGet struct {
		Status int `json:"status"`
		Body   struct {
			States []struct {
				Type  string         `json:"type"`
				State map[string]any `json:"state"`
			} `json:"states"`
		} `json:"body"`
	} `json:"stateGet"`
	StateUpdate struct {
		Status int `json:"status"`
		Body   struct {
			Updates []struct {
				Success bool `json:"success"`
			} `json:"updates"`
		} `json:"body"`
	} `json:"stateUpdate"`
	NotifyStatus struct{ Status int } `json:"notifyStatus"`
	Uploads      []agentUpload        `json:"uploads"`
	Resend       agentUpload          `json:"resend"`
	Left         []string             `json:"left"`
}

type agentUpload struct {
	File   string `json:"file"`
	Status int    `json:"status"`
	Sent   bool   `json:"sent"`
	Body   struct {
		Accepted  int  `json:"accepted"`
		Duplicate bool `json:"duplicate"`
		Rejected  []struct {
			Event  int    `json:"event"`
			Reason string `json:"reason"`
		} `json:"rejected"`
	} `json:"body"`
}

func TestAgentTransport(t *testing.T) { testAgentTransport(t, "") }

func TestAgentTransportPostgres(t *testing.T) { testAgentTransport(t, storetest.PostgresDSN(t)) }

// testAgentTransport: the enebular-agent's own transport (its npm
// packages, its chunk layout and upload; see testdata/agent/agent.js)
// authenticates, asks for its device state, and uploads its log chunks
// to a running server; every event it sent is stored as sent, the one
// over the line limit is reported without refusing its chunk, every
// chunk is answered 2xx JSON (so the agent deletes it), and a chunk sent
// again is not stored twice.
func testAgentTransport(t *testing.T, dsn string) {
	node, dir := agentHarness(t)

	cfg := testConfig()
	cfg.Data = t.TempDir()
	cfg.DB = dsn
	cfg.IngestRate = -1
	cfg.AgentManagerPrefix = "/agent-manager"
	mustAccount(t, cfg.Data, cfg.DB, "acct-1")
	args := []string{"source", "add", "--data", cfg.Data, "--kind", "agent", "--account", "acct-1", "--name", "工場A ゲートウェイ"}
	if dsn != "" {
		args = append(args, "--db", dsn)
	}
	out, stderr, code := cliRun(t, args...)
	m := regexp.MustCompile(`source: (src_\w+)\ntoken:  (slk_\S+)\n`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("source add: exit %d\n%s\n%s", code, out, stderr)
	}
	sourceID, token := m[1], m[2]
	main := MustRunMain(t, cfg)
	base := main.HTTP.URL()

	events, tooLong := agentEvents()
	work := t.TempDir()
	conf, _ := json.Marshal(map[string]any{
		"baseUrl":        strings.TrimSuffix(base, "/") + "/agent-manager",
		"authRequestUrl": strings.TrimSuffix(base, "/") + "/agent-manager/auth/request",
		"connectionId":   "conn-1",
		"deviceId":       "gw-1",
		"connectorToken": token,
		"cacheDir":       filepath.Join(work, "cache"),
		"sentDir":        filepath.Join(work, "sent"),
		"events":         events,
	})
	confPath := filepath.Join(work, "config.json")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, errb bytes.Buffer
	cmd := exec.Command(node, filepath.Join(dir, "agent.js"), confPath)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &stdout, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("agent transport: %v\n%s", err, errb.String())
	}
	var rep agentReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout.String())
	}

	if rep.AuthRequest.Status != 200 || rep.Auth.Status != 200 || !rep.Auth.Accepted {
		t.Errorf("auth: request %d, tokens %d, accepted %v", rep.AuthRequest.Status, rep.Auth.Status, rep.Auth.Accepted)
	}
	if s := rep.StateGet; s.Status != 200 || len(s.Body.States) != 3 || s.Body.States[2].Type != "status" || s.Body.States[0].State == nil {
		t.Errorf("device state get = %+v", s)
	}
	if u := rep.StateUpdate; u.Status != 200 || len(u.Body.Updates) != 1 || !u.Body.Updates[0].Success {
		t.Errorf("device state update = %+v", u)
	}
	if rep.NotifyStatus.Status != 200 {
		t.Errorf("notify-status = %d", rep.NotifyStatus.Status)
	}

	// Every chunk answered 2xx JSON and deleted; the one over the line
	// limit reported; the resend recognised.
	if len(rep.Uploads) < 3 {
		t.Fatalf("%d chunks; the test needs several", len(rep.Uploads))
	}
	rejected := 0
	for _, u := range rep.Uploads {
		if !u.Sent || u.Status != 200 || u.Body.Duplicate {
			t.Errorf("upload %s = %+v", u.File, u)
		}
		for _, rj := range u.Body.Rejected {
			rejected++
			if !strings.Contains(rj.Reason, "longer than") {
				t.Errorf("upload %s: event %d refused: %s", u.File, rj.Event, rj.Reason)
			}
		}
	}
	if rejected != 1 {
		t.Errorf("%d events refused, want 1 (the one over the line limit)", rejected)
	}
	if r := rep.Resend; !r.Sent || r.Status != 200 || !r.Body.Duplicate || r.Body.Accepted != 0 {
		t.Errorf("resend = %+v", r)
	}
	if len(rep.Left) != 0 {
		t.Errorf("left in the agent's cache: %v", rep.Left)
	}

	// Every event sent, read back from the chunks as the agent wrote
	// them, is stored as sent.
	sent, _ := filepath.Glob(filepath.Join(work, "sent", "enebular-*"))
	slices.Sort(sent)
	var want []string
	biggest := 0
	for _, f := range sent {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		biggest = max(biggest, len(b))
		var chunk []map[string]any
		if err := json.Unmarshal(b, &chunk); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, ev := range chunk {
			if ev["message"] == tooLong {
				continue
			}
			attrs := map[string]any{}
			for k, v := range ev {
				if k != "level" && k != "message" && k != "timestamp" {
					attrs[k] = v
				}
			}
			ts, err := time.Parse(time.RFC3339Nano, ev["timestamp"].(string))
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, canonicalEvent(t, ev["level"].(string), ev["message"].(string), ts, attrs))
		}
	}
	if biggest <= 256<<10 {
		t.Errorf("the biggest chunk is %d bytes; the test needs one over 256 KiB, as Japanese text makes", biggest)
	}
	var got []string
	err := main.Logs.QueryLogs(context.Background(), slokeeper.LogQuery{SourceID: sourceID, Limit: 1000000}, func(r *slokeeper.LogRecord) error {
		attrs := map[string]any{}
		if r.Attrs != nil {
			if err := json.Unmarshal(r.Attrs, &attrs); err != nil {
				return err
			}
		}
		if r.Account != "acct-1" || r.Class != slokeeper.LogClassExec {
			return fmt.Errorf("record of account %q, class %q", r.Account, r.Class)
		}
		got = append(got, canonicalEvent(t, r.Level, r.Message, r.SenderTime, attrs))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != len(events)-1 {
		t.Fatalf("%d events in the chunks sent, want %d", len(want), len(events)-1)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("stored %d records, sent %d events; they differ", len(got), len(want))
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("first difference:\n got %.300s\nwant %.300s", got[i], want[i])
			}
		}
	}
}

// canonicalEvent is one event as comparable text.
func canonicalEvent(t *testing.T, level, message string, ts time.Time, attrs map[string]any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"level": level, "message": message, "time": ts.UTC().Format(time.RFC3339Nano), "attrs": attrs})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAgentManagerPrefix: a prefix the mux would misread is refused at
// start, with the setting's name.
func TestAgentManagerPrefix(t *testing.T) {
	for _, tt := range []struct {
		prefix string
		ok     bool
	}{{"", true}, {"/agent-manager", true}, {"/api/v2/agent-manager", true}, {"agent-manager", false}, {"/agent-manager/", false}, {"/{x}", false}, {"/a b", false}, {"/a/../b", false}} {
		cfg := DefaultConfig()
		cfg.AgentManagerPrefix = tt.prefix
		if err := cfg.validate(); (err == nil) != tt.ok || (err != nil && !strings.Contains(err.Error(), "agent_manager_prefix")) {
			t.Errorf("prefix %q: %v", tt.prefix, err)
		}
	}
}
