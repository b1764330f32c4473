package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"slokeeper"
)

// parseObjectRef is the previous, encoding/json-based ParseObject, kept
// as the oracle the hand-written one is fuzzed against.
//
// It turns one JSON object into a record: message, level and the
// sender's timestamp from their usual names, and every other field into
// Attrs (merged with an "attrs" object if there is one).
func parseObjectRef(b []byte) (slokeeper.LogRecord, error) {
	var rec slokeeper.LogRecord
	if !utf8.Valid(b) {
		return rec, errors.New("not valid UTF-8")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return rec, errors.New("not a JSON object")
	}
	take := func(keys []string) (json.RawMessage, bool) {
		for _, k := range keys {
			if v, ok := m[k]; ok {
				delete(m, k)
				return v, true
			}
		}
		return nil, false
	}
	msg, ok := take(messageKeys)
	if !ok {
		return rec, errors.New(`no "message" field`)
	}
	var err error
	if rec.Message, err = textOfRef(msg); err != nil {
		return rec, fmt.Errorf("message: %w", err)
	}
	if len(rec.Message) > maxMessageBytes {
		return rec, fmt.Errorf("message is longer than %d bytes", maxMessageBytes)
	}
	if lv, ok := take(levelKeys); ok {
		l, err := textOfRef(lv)
		if err != nil {
			return rec, fmt.Errorf("level: %w", err)
		}
		rec.Level = strings.ToLower(l)
	}
	if ts, ok := take(timeKeys); ok {
		rec.SenderTime, rec.SenderTimeRaw = parseTime(ts)
	}
	attrs := map[string]json.RawMessage{}
	if a, ok := m["attrs"]; ok {
		if err := json.Unmarshal(a, &attrs); err != nil {
			return rec, errors.New(`"attrs" is not a JSON object`)
		}
		delete(m, "attrs")
	}
	for k, v := range m {
		attrs[k] = v
	}
	if len(attrs) > 0 {
		rec.Attrs, _ = json.Marshal(attrs) // sorted keys, values as sent
	}
	return rec, nil
}

// textOf returns a JSON string's text, or any other JSON value as written.
func textOfRef(v json.RawMessage) (string, error) {
	if len(v) > 0 && v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	return string(v), nil
}

// FuzzParseObjectMatchesEncodingJSON checks the hand-written parser
// against encoding/json: both accept and refuse exactly the same inputs,
// and agree on every field (Attrs compared as data).
func FuzzParseObjectMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"message":"hi","level":"INFO","time":"2026-12-03T10:00:00Z","a":1,"attrs":{"b":[1,2,{"c":null}]}}`,
		`{"msg":"x","message":"y","severity":"warn","level":"error","ts":1,"time":2}`,
		`{"message":"\u00e9\ud83d\ude00\ud800x\n\"","attrs":null}`,
		`{"message":{"nested":true},"attrs":{"a":1},"a":2}`,
		`{"message":"x","attrs":[1]}`,
		` {"message" : 1e-7 , "x" : -0.5E+3 } `,
		`{"message":"x",}`, `{"message":01}`, `{"message":"\x"}`, `[1]`, `{}`, "{\"message\":\"a\tb\"}",
		`{"message":"x","message":"y"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gotErr := ParseObject(b)
		want, wantErr := parseObjectRef(b)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("%q: hand-written error %v, encoding/json error %v", b, gotErr, wantErr)
		}
		if gotErr != nil {
			if gotErr.Error() != wantErr.Error() && !(strings.HasPrefix(gotErr.Error(), "message") && strings.HasPrefix(wantErr.Error(), "message")) {
				t.Fatalf("%q: error %q, want %q", b, gotErr, wantErr)
			}
			return
		}
		if got.Message != want.Message || got.Level != want.Level || !got.SenderTime.Equal(want.SenderTime) || got.SenderTimeRaw != want.SenderTimeRaw {
			t.Fatalf("%q:\n got %+v\nwant %+v", b, got, want)
		}
		if (got.Attrs == nil) != (want.Attrs == nil) {
			t.Fatalf("%q: attrs %s, want %s", b, got.Attrs, want.Attrs)
		}
		if got.Attrs != nil {
			var g, w any
			if err := json.Unmarshal(got.Attrs, &g); err != nil {
				t.Fatalf("%q: attrs %s are not JSON: %v", b, got.Attrs, err)
			}
			json.Unmarshal(want.Attrs, &w)
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("%q: attrs %s, want %s", b, got.Attrs, want.Attrs)
			}
		}
	})
}

var _ = utf8.Valid
var _ = slokeeper.LogRecord{}
var _ = errors.New
var _ = fmt.Sprint
