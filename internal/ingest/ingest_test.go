package ingest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/ingest"
	"slokeeper/internal/loggen"
)

func TestParseNDJSON(t *testing.T) {
	body := strings.Join([]string{
		`{"time":"2026-12-03T10:00:00.5+09:00","level":"WARN","message":"温度センサーの応答が遅れています","sensor":"t-1","attrs":{"flow":"f-9"}}`,
		``,
		`not json at all`,
		`["an","array"]`,
		`{"msg":"short form","ts":1764723600}`,
		`{"level":"info"}`,
		"{\"message\":\"bad \xff utf8\"}",
		`{"message":"ms epoch","timestamp":1764723600123}`,
		`{"message":"clock lies","timestamp":"sometime last tuesday"}`,
		`{"message":"` + strings.Repeat("x", 200) + `"}`,
		`{"message":{"structured":true},"severity":"Error"}` + "\r",
	}, "\n")
	recs, rejects, err := ingest.ParseNDJSON(strings.NewReader(body), ingest.Limits{MaxLine: 180})
	if err != nil {
		t.Fatal(err)
	}
	wantRejects := []ingest.Reject{
		{3, "not a JSON object"}, {4, "not a JSON object"}, {6, `no "message" field`}, {7, "not valid UTF-8"}, {10, "line is longer than 180 bytes"},
	}
	if fmt.Sprint(rejects) != fmt.Sprint(wantRejects) {
		t.Errorf("rejects = %v\nwant %v", rejects, wantRejects)
	}
	if len(recs) != 5 {
		t.Fatalf("%d records, want 5", len(recs))
	}
	r := recs[0]
	if r.Message != "温度センサーの応答が遅れています" || r.Level != "warn" || !r.SenderTime.Equal(time.Date(2026, 12, 3, 1, 0, 0, 5e8, time.UTC)) ||
		string(r.Attrs) != `{"flow":"f-9","sensor":"t-1"}` {
		t.Errorf("record 0 = %+v attrs %s", r, r.Attrs)
	}
	if r := recs[1]; r.Message != "short form" || !r.SenderTime.Equal(time.Unix(1764723600, 0)) || r.Attrs != nil {
		t.Errorf("record 1 = %+v", r)
	}
	if r := recs[2]; !r.SenderTime.Equal(time.UnixMilli(1764723600123)) {
		t.Errorf("millisecond timestamp = %s", r.SenderTime)
	}
	if r := recs[3]; !r.SenderTime.IsZero() || r.SenderTimeRaw != "sometime last tuesday" {
		t.Errorf("unparseable timestamp kept as %+v", r)
	}
	if r := recs[4]; r.Message != `{"structured":true}` || r.Level != "error" {
		t.Errorf("record 4 = %+v", r)
	}
}

// agentChunk is laid out exactly as the enebular-agent's log cache writes
// a chunk: "[\n", events separated by ",\n", then "\n]"; each event is
// winston's JSON output with level, message, timestamp and its metadata.
const agentChunk = "[\n" +
	`{"context":"internal","level":"info","message":"Agent starting...","timestamp":"2026-12-03T01:00:00.000Z"}` + ",\n" +
	`{"context":"node-red","level":"info","message":"[info] Started flows","timestamp":"2026-12-03T01:00:02.120Z"}` + ",\n" +
	`{"level":"error","message":"Failed to connect to MQTT broker: ECONNREFUSED","timestamp":"2026-12-03T01:00:05.001Z"}` +
	"\n]"

func TestParseAgentChunk(t *testing.T) {
	c, err := ingest.ParseAgentChunk([]byte(agentChunk))
	if err != nil {
		t.Fatal(err)
	}
	if recs := c.Records; len(recs) != 3 || len(c.Rejects) != 0 || recs[0].Message != "Agent starting..." || string(recs[0].Attrs) != `{"context":"internal"}` ||
		recs[2].Level != "error" || !recs[2].SenderTime.Equal(time.Date(2026, 12, 3, 1, 0, 5, 1e6, time.UTC)) {
		t.Errorf("chunk = %+v", c)
	}
	bad := []struct{ name, chunk, want string }{
		{"ErrTruncated", agentChunk[:len(agentChunk)-10], "not a JSON array"},
		{"ErrTooLarge", "[" + strings.Repeat(" ", ingest.MaxAgentChunkBytes) + "]", "at most 884736"},
		{"ErrNotUTF8", "[{\"message\":\"\xff\"}]", "not valid UTF-8"},
		{"ErrObject", `{"level":"info","message":"x"}`, "not a JSON array"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ingest.ParseAgentChunk([]byte(tt.chunk)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func FuzzParseNDJSON(f *testing.F) {
	f.Add([]byte(`{"time":"2026-12-03T10:00:00Z","level":"info","message":"hi","x":1}` + "\n" + `garbage`))
	f.Add([]byte(`{"message":"a","timestamp":1e300}`))
	f.Add([]byte(agentChunk))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, rejects, err := ingest.ParseNDJSON(strings.NewReader(string(data)), ingest.Limits{MaxLine: 1024})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rejects {
			if r.Line < 1 || r.Reason == "" {
				t.Fatalf("reject without a line or reason: %+v", r)
			}
		}
		checkRecords(t, recs)
	})
}

func FuzzParseAgentChunk(f *testing.F) {
	f.Add([]byte(agentChunk))
	f.Add([]byte(`[{"message":1,"level":null,"timestamp":{}}]`))
	f.Add([]byte(`[{"message":"ok","attrs":"x"},3,{"level":"info"},{"message":"b","attrs":{"attrs":[]}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ingest.ParseAgentChunk(data)
		if err != nil {
			return
		}
		checkRecords(t, c.Records)
		// Every event is either kept or reported, in order, once.
		var events []json.RawMessage
		if json.Unmarshal(data, &events) != nil {
			t.Fatalf("accepted a chunk encoding/json refuses: %q", data)
		}
		if len(c.Records)+len(c.Rejects) != len(events) && len(c.Rejects) <= ingest.MaxListedRejects {
			t.Fatalf("%d events became %d records and %d rejects", len(events), len(c.Records), len(c.Rejects))
		}
		prev := 0
		for _, r := range c.Rejects {
			if r.Event <= prev || r.Event > len(events) || r.Reason == "" {
				t.Fatalf("reject out of place or without a reason: %+v (of %d events)", r, len(events))
			}
			prev = r.Event
		}
	})
}

// checkRecords asserts what storage relies on for every parsed record.
func checkRecords(t *testing.T, recs []slokeeper.LogRecord) {
	t.Helper()
	for _, r := range recs {
		if r.Attrs != nil && !json.Valid(r.Attrs) {
			t.Fatalf("attrs are not JSON: %q", r.Attrs)
		}
		if len(r.Message) > ingest.DefaultMaxLine || len(r.SenderTimeRaw) > 256 {
			t.Fatalf("record over its limits: %d-byte message, %d-byte raw time", len(r.Message), len(r.SenderTimeRaw))
		}
	}
}

// BenchmarkParseNDJSON parses generated traffic: lines a second per core.
func BenchmarkParseNDJSON(b *testing.B) {
	g := loggen.New(1, 1000)
	var body []byte
	for range 10000 {
		body = g.AppendNDJSON(body)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		recs, rejects, err := ingest.ParseNDJSON(bytes.NewReader(body), ingest.Limits{})
		if err != nil || len(rejects) != 0 || len(recs) != 10000 {
			b.Fatal(len(recs), rejects, err)
		}
	}
	b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "lines/s")
}

// TestParseObjectEmptyKey: a field whose key is "" is kept as sent, in
// attrs (the fuzzer found it dropped when the record had no level).
func TestParseObjectEmptyKey(t *testing.T) {
	for _, tt := range []struct{ line, want string }{
		{`{"message":"x","":1}`, `{"":1}`},
		{`{"message":"x","level":"info","time":"2026-12-03T10:00:00Z","":"v","a":2}`, `{"":"v","a":2}`},
		{`{"message":"x","attrs":{"":true}}`, `{"":true}`},
	} {
		rec, err := ingest.ParseObject([]byte(tt.line))
		if err != nil {
			t.Fatalf("%s: %v", tt.line, err)
		}
		if string(rec.Attrs) != tt.want {
			t.Errorf("%s: attrs %s, want %s", tt.line, rec.Attrs, tt.want)
		}
	}
}
