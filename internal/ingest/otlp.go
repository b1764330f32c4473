package ingest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"slokeeper"

	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	logsv1 "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ParseOTLP parses an OTLP/HTTP logs export request, protobuf or JSON (as
// the content type says). It decodes into LogsData, whose wire form is the
// same as ExportLogsServiceRequest's, so slokeeper needs no gRPC. Records
// that cannot be stored (no body, or one over the size limit) are counted
// as rejected, as OTLP's partial success reports them.
//
// Before anything is unmarshalled the request's values are counted (on
// the wire for protobuf, by a scan for JSON): more than lim.MaxValues
// values or lim.MaxRecords records, or records that would take more than
// 4 × lim.MaxDecoded bytes once decoded (a resource's attributes are
// copied into each of its records), fail with a *LimitError.
func ParseOTLP(body []byte, contentType string, lim Limits) (recs []slokeeper.LogRecord, rejected int64, err error) {
	lim = lim.WithDefaults()
	var data logsv1.LogsData
	switch {
	case strings.HasPrefix(contentType, "application/x-protobuf"), strings.HasPrefix(contentType, "application/protobuf"):
		var c wireCount
		if err = c.count(body, data.ProtoReflect().Descriptor(), 0, lim); err == nil {
			err = proto.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(body, &data)
		}
	case strings.HasPrefix(contentType, "application/json"):
		if err = countJSONValues(body, lim.MaxValues); err != nil {
			return nil, 0, err
		}
		if body, err = hexIDsToBase64(body); err == nil {
			err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(body, &data)
		}
	default:
		return nil, 0, fmt.Errorf("content type %q is not application/x-protobuf or application/json", contentType)
	}
	if IsLimit(err) {
		return nil, 0, err
	}
	if err != nil {
		return nil, 0, errors.New("not an OTLP logs export request")
	}
	var stored int64
	for _, rl := range data.GetResourceLogs() {
		resource := attrMap(rl.GetResource().GetAttributes())
		for _, sl := range rl.GetScopeLogs() {
			scope := sl.GetScope().GetName()
			for _, lr := range sl.GetLogRecords() {
				if len(recs) == lim.MaxRecords {
					return nil, 0, &LimitError{"records", int64(lim.MaxRecords)}
				}
				rec, ok := otlpRecord(lr, resource, scope)
				if !ok {
					rejected++
					continue
				}
				if stored += int64(len(rec.Message) + len(rec.Attrs)); stored > lim.maxStored() {
					return nil, 0, &LimitError{"bytes of decoded records", lim.maxStored()}
				}
				recs = append(recs, rec)
			}
		}
		rl.Reset() // let what was converted go before the next resource's records are
	}
	return recs, rejected, nil
}

// wireCount counts the messages of a protobuf body on the wire, guided by
// the message descriptors, without unmarshalling it.
type wireCount struct{ values, records int }

var logRecordName = (&logsv1.LogRecord{}).ProtoReflect().Descriptor().FullName()

func (c *wireCount) count(b []byte, md protoreflect.MessageDescriptor, depth int, lim Limits) error {
	if depth > 100 {
		return errors.New("nested too deep")
	}
	if md.FullName() == logRecordName {
		if c.records++; c.records > lim.MaxRecords {
			return &LimitError{"records", int64(lim.MaxRecords)}
		}
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if typ == protowire.BytesType {
			if fd := md.Fields().ByNumber(num); fd != nil && fd.Kind() == protoreflect.MessageKind {
				if c.values++; c.values > lim.MaxValues {
					return &LimitError{"values", int64(lim.MaxValues)}
				}
				v, _ := protowire.ConsumeBytes(b)
				if err := c.count(v, fd.Message(), depth+1, lim); err != nil {
					return err
				}
			}
		}
		b = b[n:]
	}
	return nil
}

// countJSONValues bounds the values of a JSON document by counting, outside
// strings, the tokens that start or separate them ('{', '[' and ','): the
// generic and protojson decodings allocate per value.
func countJSONValues(b []byte, max int) error {
	n, inStr := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[', ',':
			if n++; n > max {
				return &LimitError{"values", int64(max)}
			}
		}
	}
	return nil
}

// hexIDsToBase64 rewrites traceId and spanId from the hex OTLP/JSON
// writes to the base64 protojson reads. Hex is valid base64, so without
// this the IDs would silently decode to the wrong bytes.
func hexIDsToBase64(body []byte) ([]byte, error) {
	if !bytes.Contains(body, []byte(`Id"`)) && !bytes.Contains(body, []byte(`_id"`)) {
		return body, nil // no IDs: skip the rewrite
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && (k == "traceId" || k == "spanId" || k == "trace_id" || k == "span_id") {
					if b, err := hex.DecodeString(s); err == nil {
						x[k] = base64.StdEncoding.EncodeToString(b)
					}
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return json.Marshal(v)
}

func otlpRecord(lr *logsv1.LogRecord, resource map[string]any, scope string) (slokeeper.LogRecord, bool) {
	var rec slokeeper.LogRecord
	if lr.GetBody() == nil {
		return rec, false
	}
	if s, ok := lr.GetBody().GetValue().(*commonv1.AnyValue_StringValue); ok {
		rec.Message = s.StringValue
	} else {
		b, _ := json.Marshal(anyValue(lr.GetBody()))
		rec.Message = string(b)
	}
	if len(rec.Message) > maxMessageBytes || !utf8.ValidString(rec.Message) {
		return rec, false
	}
	rec.Level = strings.ToLower(lr.GetSeverityText())
	if rec.Level == "" {
		rec.Level = severityLevel(int32(lr.GetSeverityNumber()))
	}
	if t := lr.GetTimeUnixNano(); t > 0 && t < 1<<63 {
		rec.SenderTime = time.Unix(0, int64(t)).UTC()
	} else if t := lr.GetObservedTimeUnixNano(); t > 0 && t < 1<<63 {
		rec.SenderTime = time.Unix(0, int64(t)).UTC()
	}
	attrs := attrMap(lr.GetAttributes())
	if len(resource) > 0 {
		attrs["resource"] = resource
	}
	if scope != "" {
		attrs["scope"] = scope
	}
	if id := lr.GetTraceId(); len(id) > 0 {
		attrs["trace_id"] = hex.EncodeToString(id)
	}
	if id := lr.GetSpanId(); len(id) > 0 {
		attrs["span_id"] = hex.EncodeToString(id)
	}
	if len(attrs) > 0 {
		rec.Attrs, _ = json.Marshal(attrs)
	}
	return rec, true
}

// severityLevel maps an OTLP severity number to a level name.
func severityLevel(n int32) string {
	switch {
	case n <= 0:
		return ""
	case n <= 4:
		return "trace"
	case n <= 8:
		return "debug"
	case n <= 12:
		return "info"
	case n <= 16:
		return "warn"
	case n <= 20:
		return "error"
	}
	return "fatal"
}

func attrMap(kvs []*commonv1.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = anyValue(kv.GetValue())
	}
	return m
}

// anyValue turns an OTLP AnyValue into plain JSON-able Go values.
func anyValue(v *commonv1.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonv1.AnyValue_StringValue:
		if utf8.ValidString(x.StringValue) {
			return x.StringValue
		}
		return base64.StdEncoding.EncodeToString([]byte(x.StringValue))
	case *commonv1.AnyValue_BoolValue:
		return x.BoolValue
	case *commonv1.AnyValue_IntValue:
		return x.IntValue
	case *commonv1.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonv1.AnyValue_BytesValue:
		return base64.StdEncoding.EncodeToString(x.BytesValue)
	case *commonv1.AnyValue_ArrayValue:
		out := make([]any, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			out = append(out, anyValue(e))
		}
		return out
	case *commonv1.AnyValue_KvlistValue:
		return attrMap(x.KvlistValue.GetValues())
	}
	return nil
}

// OTLPResponse encodes an ExportLogsServiceResponse: empty on full
// success, with partial_success when records were rejected.
func OTLPResponse(contentType string, rejected int64, message string) []byte {
	if strings.HasPrefix(contentType, "application/json") {
		if rejected == 0 {
			return []byte("{}")
		}
		b, _ := json.Marshal(map[string]any{"partialSuccess": map[string]any{"rejectedLogRecords": fmt.Sprint(rejected), "errorMessage": message}})
		return b
	}
	if rejected == 0 {
		return nil
	}
	// partial_success (field 1) { rejected_log_records (1): varint, error_message (2): string }
	var inner []byte
	inner = protowire.AppendTag(inner, 1, protowire.VarintType)
	inner = protowire.AppendVarint(inner, uint64(rejected))
	inner = protowire.AppendTag(inner, 2, protowire.BytesType)
	inner = protowire.AppendString(inner, message)
	out := protowire.AppendTag(nil, 1, protowire.BytesType)
	return protowire.AppendBytes(out, inner)
}
