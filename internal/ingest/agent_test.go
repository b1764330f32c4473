package ingest_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"

	"slokeeper/internal/ingest"
)

// agentLayout lays events out as the enebular-agent's log cache writes a
// file, by its rule: "[\n", then ",\n" before each further event, and
// "\n]" when the file is finalized. A file is finalized before an event
// when its size in bytes plus the event's length in UTF-16 code units
// (JavaScript's string length) plus 3 reaches 256 KiB; an event always
// goes into an empty file, whatever its size. It returns the chunks.
func agentLayout(events []string) []string {
	const maxUploadChunkSize = 256 << 10
	var chunks []string
	var cur strings.Builder
	for _, ev := range events {
		units := len(utf16.Encode([]rune(ev))) + 3
		if cur.Len() > 0 && cur.Len()+units >= maxUploadChunkSize {
			chunks = append(chunks, cur.String()+"\n]")
			cur.Reset()
		}
		if cur.Len() == 0 {
			cur.WriteString("[\n")
		} else {
			cur.WriteString(",\n")
		}
		cur.WriteString(ev)
	}
	if cur.Len() > 0 {
		chunks = append(chunks, cur.String()+"\n]")
	}
	return chunks
}

// TestParseAgentChunkPartial: one bad event does not refuse the chunk
// (the agent would resend it forever); the good events are kept and the
// bad ones reported by their place in the chunk.
func TestParseAgentChunkPartial(t *testing.T) {
	long := strings.Repeat("あ", ingest.DefaultMaxLine/3+1)
	chunk := "[\n" + strings.Join([]string{
		`{"level":"info","message":"起動しました","timestamp":"2026-12-03T01:00:00.000Z","module":"internal"}`,
		`{"level":"info","message":"` + long + `","timestamp":"2026-12-03T01:00:01.000Z"}`,
		`{"level":"warn","timestamp":"2026-12-03T01:00:02.000Z"}`,
		`"not an event"`,
		`{"level":"error","message":"attrs as text","timestamp":"2026-12-03T01:00:03.000Z","attrs":"plain"}`,
	}, ",\n") + "\n]"
	c, err := ingest.ParseAgentChunk([]byte(chunk))
	if err != nil {
		t.Fatal(err)
	}
	want := []ingest.EventReject{
		{Event: 2, Reason: "message is longer than 65536 bytes"},
		{Event: 3, Reason: `no "message" field`},
		{Event: 4, Reason: "not a JSON object"},
	}
	if fmt.Sprint(c.Rejects) != fmt.Sprint(want) {
		t.Errorf("rejects = %v\nwant %v", c.Rejects, want)
	}
	if len(c.Records) != 2 || c.Records[0].Message != "起動しました" || c.Records[1].Message != "attrs as text" ||
		string(c.Records[1].Attrs) != `{"attrs":"plain"}` {
		t.Fatalf("records = %+v", c.Records)
	}

	// The digest is of the good events: the same chunk again has the same
	// one, a chunk with other good events another.
	again, _ := ingest.ParseAgentChunk([]byte(chunk))
	other, _ := ingest.ParseAgentChunk([]byte(strings.Replace(chunk, "起動しました", "再起動しました", 1)))
	if again.Digest != c.Digest || other.Digest == c.Digest {
		t.Errorf("digests: %x, again %x, other %x", c.Digest, again.Digest, other.Digest)
	}
}

// TestParseAgentChunkAttrs: an event's own "attrs" key is an attribute
// like any other, kept as sent: not merged into the others, and not
// refused when it is not an object.
func TestParseAgentChunkAttrs(t *testing.T) {
	for _, tt := range []struct{ attrs, want string }{
		{`{"flow":{"id":"f-1","nodes":[1,2]}}`, `{"module":"nr","attrs":{"flow":{"id":"f-1","nodes":[1,2]}}}`},
		{`"text"`, `{"module":"nr","attrs":"text"}`},
		{`[1,"二"]`, `{"module":"nr","attrs":[1,"二"]}`},
		{`null`, `{"module":"nr","attrs":null}`},
	} {
		chunk := `[{"module":"nr","level":"info","message":"m","timestamp":"2026-12-03T01:00:00.000Z","attrs":` + tt.attrs + `}]`
		c, err := ingest.ParseAgentChunk([]byte(chunk))
		if err != nil || len(c.Rejects) != 0 || len(c.Records) != 1 {
			t.Fatalf("%s: %+v, %v", tt.attrs, c, err)
		}
		if got := string(c.Records[0].Attrs); got != tt.want {
			t.Errorf("attrs %s: stored %s, want %s", tt.attrs, got, tt.want)
		}
	}
}

// TestParseAgentChunkUTF16: the agent bounds a chunk by adding UTF-16
// code units to bytes, so a Japanese chunk it finalizes can be well over
// 256 KiB in bytes; every chunk its rule makes is taken. Past the bound
// (in code units, with headroom) a chunk is refused.
func TestParseAgentChunkUTF16(t *testing.T) {
	var events []string
	for i := range 400 {
		msg := strings.Repeat("温度センサー", 40+i%7) // 240-282 characters, 3 bytes each
		if i%50 == 49 {
			msg = strings.Repeat("警告", 10000) // 20,000 characters, 60,000 bytes
		}
		events = append(events, fmt.Sprintf(`{"level":"info","message":"%s","timestamp":"2026-12-03T01:00:%02d.000Z","n":%d}`, msg, i%60, i))
	}
	chunks := agentLayout(events)
	biggest, n := 0, 0
	for _, ch := range chunks {
		biggest = max(biggest, len(ch))
		c, err := ingest.ParseAgentChunk([]byte(ch))
		if err != nil {
			t.Fatalf("a %d-byte chunk the agent makes was refused: %v", len(ch), err)
		}
		if len(c.Rejects) != 0 {
			t.Fatalf("rejects: %v", c.Rejects)
		}
		n += len(c.Records)
	}
	if n != len(events) {
		t.Errorf("%d records from %d events", n, len(events))
	}
	if biggest <= 256<<10 {
		t.Errorf("the biggest chunk is %d bytes; the test needs one over 256 KiB", biggest)
	}
	t.Logf("%d chunks, the biggest %d bytes", len(chunks), biggest)

	over := `[{"message":"` + strings.Repeat("x", ingest.MaxAgentChunkUnits) + `"}]`
	if _, err := ingest.ParseAgentChunk([]byte(over)); err == nil || !strings.Contains(err.Error(), "UTF-16") {
		t.Errorf("a chunk over the bound: %v", err)
	}
	// Four-byte characters are two UTF-16 units each.
	emoji := `[{"message":"` + strings.Repeat("😀", ingest.MaxAgentChunkUnits/2) + `"}]`
	if _, err := ingest.ParseAgentChunk([]byte(emoji)); err == nil || !strings.Contains(err.Error(), "UTF-16") {
		t.Errorf("a chunk of surrogate pairs over the bound: %v", err)
	}
}
