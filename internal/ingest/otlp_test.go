package ingest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"slokeeper/internal/ingest"

	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	logsv1 "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcev1 "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func str(s string) *commonv1.AnyValue {
	return &commonv1.AnyValue{Value: &commonv1.AnyValue_StringValue{StringValue: s}}
}

// otlpRequest builds an export request as an OpenTelemetry SDK would.
func otlpRequest() *logsv1.LogsData {
	at := uint64(time.Date(2026, 12, 3, 1, 2, 3, 4, time.UTC).UnixNano())
	return &logsv1.LogsData{ResourceLogs: []*logsv1.ResourceLogs{{
		Resource: &resourcev1.Resource{Attributes: []*commonv1.KeyValue{{Key: "service.name", Value: str("flow-runtime")}}},
		ScopeLogs: []*logsv1.ScopeLogs{{
			Scope: &commonv1.InstrumentationScope{Name: "node-red"},
			LogRecords: []*logsv1.LogRecord{
				{TimeUnixNano: at, SeverityNumber: logsv1.SeverityNumber_SEVERITY_NUMBER_WARN, Body: str("キューが詰まっています"),
					Attributes: []*commonv1.KeyValue{{Key: "queue", Value: &commonv1.AnyValue{Value: &commonv1.AnyValue_IntValue{IntValue: 42}}}},
					TraceId:    []byte{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c}},
				{ObservedTimeUnixNano: at, SeverityText: "ERROR", Body: &commonv1.AnyValue{Value: &commonv1.AnyValue_KvlistValue{KvlistValue: &commonv1.KeyValueList{
					Values: []*commonv1.KeyValue{{Key: "event", Value: str("crash")}}}}}},
				{SeverityText: "INFO"}, // no body: rejected
			},
		}},
	}}}
}

func TestParseOTLPProtobuf(t *testing.T) {
	body, err := proto.Marshal(otlpRequest())
	if err != nil {
		t.Fatal(err)
	}
	recs, rejected, err := ingest.ParseOTLP(body, "application/x-protobuf", ingest.Limits{})
	if err != nil || rejected != 1 || len(recs) != 2 {
		t.Fatalf("ParseOTLP = %d records, %d rejected, %v", len(recs), rejected, err)
	}
	r := recs[0]
	var attrs map[string]any
	json.Unmarshal(r.Attrs, &attrs)
	if r.Message != "キューが詰まっています" || r.Level != "warn" || !r.SenderTime.Equal(time.Date(2026, 12, 3, 1, 2, 3, 4, time.UTC)) ||
		attrs["queue"] != float64(42) || attrs["scope"] != "node-red" || attrs["trace_id"] != "5b8efff798038103d269b633813fc60c" ||
		attrs["resource"].(map[string]any)["service.name"] != "flow-runtime" {
		t.Errorf("record 0 = %+v, attrs %v", r, attrs)
	}
	if r := recs[1]; r.Message != `{"event":"crash"}` || r.Level != "error" || r.SenderTime.IsZero() {
		t.Errorf("record 1 = %+v", r)
	}

	// The partial-success response is an ExportLogsServiceResponse.
	resp := ingest.OTLPResponse("application/x-protobuf", 1, "1 record had no body")
	num, typ, n := protowire.ConsumeTag(resp)
	inner, m := protowire.ConsumeBytes(resp[n:])
	if num != 1 || typ != protowire.BytesType || m < 0 {
		t.Fatalf("response %x is not a partial_success message", resp)
	}
	_, _, k := protowire.ConsumeTag(inner)
	if v, _ := protowire.ConsumeVarint(inner[k:]); v != 1 {
		t.Errorf("rejected_log_records = %d, want 1", v)
	}
	if ingest.OTLPResponse("application/x-protobuf", 0, "") != nil {
		t.Error("a full success should be an empty message")
	}
}

// TestParseOTLPJSON uses the JSON encoding the OTLP spec defines: camelCase
// names, int64 as strings, enum numbers, and trace IDs in hex.
func TestParseOTLPJSON(t *testing.T) {
	body := `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"edge"}}]},
	"scopeLogs":[{"scope":{"name":"agent"},"logRecords":[{"timeUnixNano":"1764723723000000004","severityNumber":17,
	"body":{"stringValue":"boom"},"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
	"attributes":[{"key":"k","value":{"boolValue":true}}]}]}]}]}`
	recs, rejected, err := ingest.ParseOTLP([]byte(body), "application/json", ingest.Limits{})
	if err != nil || rejected != 0 || len(recs) != 1 {
		t.Fatalf("ParseOTLP JSON = %v %d %v", recs, rejected, err)
	}
	var attrs map[string]any
	json.Unmarshal(recs[0].Attrs, &attrs)
	if recs[0].Level != "error" || attrs["trace_id"] != "5b8efff798038103d269b633813fc60c" || attrs["span_id"] != "eee19b7ec3c1b174" || attrs["k"] != true {
		t.Errorf("record = %+v, attrs %v", recs[0], attrs)
	}
	for _, bad := range []struct{ body, ct string }{{"{", "application/json"}, {"\xff\xff", "application/x-protobuf"}, {"{}", "text/plain"}} {
		if _, _, err := ingest.ParseOTLP([]byte(bad.body), bad.ct, ingest.Limits{}); err == nil {
			t.Errorf("ParseOTLP(%q, %s) accepted it", bad.body, bad.ct)
		}
	}
	if !strings.Contains(string(ingest.OTLPResponse("application/json", 2, "x")), `"rejectedLogRecords":"2"`) {
		t.Error("JSON partial success")
	}
}

func FuzzParseOTLP(f *testing.F) {
	b, _ := proto.Marshal(otlpRequest())
	f.Add(b, true)
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"},"traceId":"00"}]}]}]}`), false)
	f.Fuzz(func(t *testing.T, data []byte, isProto bool) {
		ct := "application/json"
		if isProto {
			ct = "application/x-protobuf"
		}
		recs, _, err := ingest.ParseOTLP(data, ct, ingest.Limits{})
		if err == nil {
			checkRecords(t, recs)
		}
	})
}
