package ingest_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"slokeeper/internal/heaptest"
	"slokeeper/internal/ingest"
	"slokeeper/internal/loggen"

	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	logsv1 "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcev1 "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The bombs: small on the wire (or, for MQTT, refused by size), each
// costing hundreds of MiB without the limits.

// NDJSONBomb is n lines of the smallest storable record.
func NDJSONBomb(n int) []byte {
	return bytes.Repeat([]byte(`{"message":""}`+"\n"), n)
}

// OTLPBomb is a LogsData of n empty log records: 2 bytes each on the wire.
func OTLPBomb(n int) []byte {
	var sl []byte
	for range n {
		sl = protowire.AppendTag(sl, 2, protowire.BytesType) // ScopeLogs.log_records
		sl = protowire.AppendVarint(sl, 0)
	}
	rl := protowire.AppendTag(nil, 2, protowire.BytesType) // ResourceLogs.scope_logs
	rl = protowire.AppendBytes(rl, sl)
	out := protowire.AppendTag(nil, 1, protowire.BytesType) // LogsData.resource_logs
	return protowire.AppendBytes(out, rl)
}

// OTLPResourceBomb is one resource with attributes of about attrBytes,
// and n small records that would each carry a copy of them.
func OTLPResourceBomb(attrBytes, n int) []byte {
	big := strings.Repeat("r", attrBytes)
	data := &logsv1.LogsData{ResourceLogs: []*logsv1.ResourceLogs{{
		Resource:  &resourcev1.Resource{Attributes: []*commonv1.KeyValue{{Key: "big", Value: str(big)}}},
		ScopeLogs: []*logsv1.ScopeLogs{{}},
	}}}
	for range n {
		data.ResourceLogs[0].ScopeLogs[0].LogRecords = append(data.ResourceLogs[0].ScopeLogs[0].LogRecords, &logsv1.LogRecord{Body: str("x")})
	}
	b, _ := proto.Marshal(data)
	return b
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func wantLimit(t *testing.T, err error, what string) {
	t.Helper()
	var le *ingest.LimitError
	if !errors.As(err, &le) || le.What != what {
		t.Fatalf("err = %v, want a limit on %s", err, what)
	}
}

func TestParseNDJSONLimits(t *testing.T) {
	t.Run("ErrRecords", func(t *testing.T) {
		_, _, err := ingest.ParseNDJSON(bytes.NewReader(NDJSONBomb(11)), ingest.Limits{MaxRecords: 10})
		wantLimit(t, err, "records")
	})
	t.Run("OKAtTheLimit", func(t *testing.T) {
		recs, _, err := ingest.ParseNDJSON(bytes.NewReader(NDJSONBomb(10)), ingest.Limits{MaxRecords: 10})
		if err != nil || len(recs) != 10 {
			t.Fatalf("%d records, %v; want 10", len(recs), err)
		}
	})
	t.Run("ErrDecoded", func(t *testing.T) {
		zr, _ := gzip.NewReader(bytes.NewReader(gz(NDJSONBomb(1 << 20))))
		_, _, err := ingest.ParseNDJSON(ingest.LimitReader(zr, 1<<20), ingest.Limits{})
		wantLimit(t, err, "decoded body bytes")
	})
	t.Run("RejectsListedUpToTheBound", func(t *testing.T) {
		body := strings.Repeat("x\n", ingest.MaxListedRejects+500) + `{"message":"kept"}`
		recs, rejects, err := ingest.ParseNDJSON(strings.NewReader(body), ingest.Limits{})
		if err != nil || len(recs) != 1 {
			t.Fatalf("%d records, %v", len(recs), err)
		}
		if len(rejects) != ingest.MaxListedRejects+1 {
			t.Fatalf("%d rejects listed, want %d", len(rejects), ingest.MaxListedRejects+1)
		}
		if last := rejects[len(rejects)-1]; last.Line != ingest.MaxListedRejects+1 || !strings.HasPrefix(last.Reason, "500 more lines") {
			t.Errorf("last reject = %+v", last)
		}
	})
}

func TestLimitReader(t *testing.T) {
	b, err := ingest.ReadAll(strings.NewReader("12345"), 5)
	if err != nil || string(b) != "12345" {
		t.Fatalf("at the limit: %q, %v", b, err)
	}
	_, err = ingest.ReadAll(strings.NewReader("123456"), 5)
	wantLimit(t, err, "decoded body bytes")
}

func TestParseOTLPLimits(t *testing.T) {
	pb := "application/x-protobuf"
	t.Run("ErrRecords", func(t *testing.T) {
		_, _, err := ingest.ParseOTLP(OTLPBomb(101), pb, ingest.Limits{MaxRecords: 100})
		wantLimit(t, err, "records")
	})
	t.Run("ErrValues", func(t *testing.T) {
		_, _, err := ingest.ParseOTLP(OTLPBomb(101), pb, ingest.Limits{MaxValues: 100})
		wantLimit(t, err, "values")
	})
	t.Run("ErrValuesInAttributes", func(t *testing.T) {
		lr := &logsv1.LogRecord{Body: str("x")}
		for i := range 200 {
			lr.Attributes = append(lr.Attributes, &commonv1.KeyValue{Key: fmt.Sprint(i), Value: str("v")})
		}
		b, _ := proto.Marshal(&logsv1.LogsData{ResourceLogs: []*logsv1.ResourceLogs{{ScopeLogs: []*logsv1.ScopeLogs{{LogRecords: []*logsv1.LogRecord{lr}}}}}})
		_, _, err := ingest.ParseOTLP(b, pb, ingest.Limits{MaxValues: 300})
		wantLimit(t, err, "values")
	})
	t.Run("ErrStoredBytes", func(t *testing.T) {
		_, _, err := ingest.ParseOTLP(OTLPResourceBomb(64<<10, 100), pb, ingest.Limits{MaxDecoded: 1 << 20})
		wantLimit(t, err, "bytes of decoded records")
	})
	t.Run("ErrJSONValues", func(t *testing.T) {
		body := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[` + strings.Repeat(`{},`, 200) + `{}]}]}]}`
		_, _, err := ingest.ParseOTLP([]byte(body), "application/json", ingest.Limits{MaxValues: 100})
		wantLimit(t, err, "values")
	})
	t.Run("OKUnderTheLimits", func(t *testing.T) {
		body, _ := proto.Marshal(otlpRequest())
		recs, _, err := ingest.ParseOTLP(body, pb, ingest.Limits{MaxRecords: 3, MaxValues: 40})
		if err != nil || len(recs) == 0 {
			t.Fatalf("%d records, %v", len(recs), err)
		}
	})
}

func TestParseMessageLimit(t *testing.T) {
	recs, reason := ingest.ParseMessage(NDJSONBomb(100), 100*15-1, ingest.Limits{})
	if recs != nil || !strings.Contains(reason, "over the limit of 1499") {
		t.Fatalf("%d records, reason %q", len(recs), reason)
	}
	if recs, reason := ingest.ParseMessage(NDJSONBomb(100), 100*15, ingest.Limits{}); len(recs) != 100 || reason != "" {
		t.Fatalf("at the limit: %d records, reason %q", len(recs), reason)
	}
}

// benchPeak reports the peak heap of one request, the largest over b.N.
func benchPeak(b *testing.B, fn func()) {
	b.Helper()
	b.ReportAllocs()
	var worst uint64
	for b.Loop() {
		worst = max(worst, heaptest.Peak(fn))
	}
	b.ReportMetric(float64(worst), "peak-heap-B/req")
}

// ndjsonGzip is the HTTP NDJSON path: gzip, the decoded limit, the parser.
func ndjsonGzip(b *testing.B, body []byte, wantErr bool) func() {
	return func() {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _, err = ingest.ParseNDJSON(ingest.LimitReader(zr, ingest.DefaultMaxDecoded), ingest.Limits{})
		if (err != nil) != wantErr {
			b.Fatalf("err = %v", err)
		}
	}
}

// otlpGzip is the HTTP OTLP path: gzip, ReadAll under the decoded limit,
// the parser.
func otlpGzip(b *testing.B, body []byte, wantErr bool) func() {
	return func() {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		raw, err := ingest.ReadAll(zr, ingest.DefaultMaxDecoded)
		if err == nil {
			_, _, err = ingest.ParseOTLP(raw, "application/x-protobuf", ingest.Limits{})
		}
		if (err != nil) != wantErr {
			b.Fatalf("err = %v", err)
		}
	}
}

func normalNDJSON(lines int) []byte {
	g := loggen.New(1, 100)
	var body []byte
	for range lines {
		body = g.AppendNDJSON(body)
	}
	return body
}

func normalOTLP(n int) []byte {
	sl := &logsv1.ScopeLogs{}
	for i := range n {
		sl.LogRecords = append(sl.LogRecords, &logsv1.LogRecord{
			TimeUnixNano: uint64(time.Date(2026, 12, 3, 1, 0, 0, i, time.UTC).UnixNano()), SeverityText: "INFO",
			Body:       str(fmt.Sprintf("request %d served in 12 ms", i)),
			Attributes: []*commonv1.KeyValue{{Key: "http.route", Value: str("/api/v1/things")}, {Key: "status", Value: str("200")}},
		})
	}
	b, _ := proto.Marshal(&logsv1.LogsData{ResourceLogs: []*logsv1.ResourceLogs{{
		Resource:  &resourcev1.Resource{Attributes: []*commonv1.KeyValue{{Key: "service.name", Value: str("things-api")}}},
		ScopeLogs: []*logsv1.ScopeLogs{sl},
	}}})
	return b
}

// BenchmarkIngestPeakHeap reports the peak heap of one request on each
// way in, for a bomb and for a normal request.
func BenchmarkIngestPeakHeap(b *testing.B) {
	ndjsonBomb := gz(NDJSONBomb(4 << 20)) // 60 MiB decoded
	otlpBomb := gz(OTLPBomb(4 << 20))     // 8 MiB decoded, 4 Mi records
	resourceBomb := gz(OTLPResourceBomb(4<<20, 1000))
	agentBomb := append([]byte("["), bytes.Repeat([]byte(`{"message":""},`), (256<<10-20)/15)...)
	agentBomb = append(agentBomb, []byte(`{"message":""}]`)...)
	mqttBomb := NDJSONBomb(24 << 20 / 15) // 24 MiB
	b.Logf("wire sizes: NDJSON bomb %d B gzip, OTLP bomb %d B gzip, OTLP resource bomb %d B gzip, agent bomb %d B, MQTT bomb %d B",
		len(ndjsonBomb), len(otlpBomb), len(resourceBomb), len(agentBomb), len(mqttBomb))
	b.Run("NDJSONGzip/bomb", func(b *testing.B) { benchPeak(b, ndjsonGzip(b, ndjsonBomb, true)) })
	b.Run("NDJSONGzip/normal", func(b *testing.B) { benchPeak(b, ndjsonGzip(b, gz(normalNDJSON(10000)), false)) })
	b.Run("OTLPProtobufGzip/bomb", func(b *testing.B) { benchPeak(b, otlpGzip(b, otlpBomb, true)) })
	b.Run("OTLPProtobufGzip/resource-bomb", func(b *testing.B) { benchPeak(b, otlpGzip(b, resourceBomb, true)) })
	b.Run("OTLPProtobufGzip/normal", func(b *testing.B) { benchPeak(b, otlpGzip(b, gz(normalOTLP(8192)), false)) })
	b.Run("AgentChunk/bomb", func(b *testing.B) {
		benchPeak(b, func() {
			if _, err := ingest.ParseAgentChunk(agentBomb); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("AgentChunk/normal", func(b *testing.B) {
		benchPeak(b, func() {
			if _, err := ingest.ParseAgentChunk([]byte(agentChunk)); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("MQTTPayload/bomb", func(b *testing.B) {
		benchPeak(b, func() {
			if recs, _ := ingest.ParseMessage(mqttBomb, 1<<20, ingest.Limits{}); recs != nil {
				b.Fatal("the bomb was parsed")
			}
		})
	})
	b.Run("MQTTPayload/normal", func(b *testing.B) {
		payload := normalNDJSON(100)
		benchPeak(b, func() {
			if recs, _ := ingest.ParseMessage(payload, 1<<20, ingest.Limits{}); len(recs) != 100 {
				b.Fatal(len(recs))
			}
		})
	})
}
