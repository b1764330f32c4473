package loggen_test

import (
	"bytes"
	"strings"
	"testing"

	"slokeeper/internal/ingest"
	"slokeeper/internal/loggen"
)

func TestDeterministicAndParseable(t *testing.T) {
	a, b := loggen.New(7, 100), loggen.New(7, 100)
	var ba, bb []byte
	for range 5000 {
		ba, bb = a.AppendNDJSON(ba), b.AppendNDJSON(bb)
	}
	if !bytes.Equal(ba, bb) {
		t.Fatal("the same seed gave different traffic")
	}
	if c := loggen.New(8, 100).AppendNDJSON(nil); bytes.Equal(c, ba[:len(c)]) {
		t.Error("different seeds gave the same first line")
	}
	recs, rejects, err := ingest.ParseNDJSON(bytes.NewReader(ba), ingest.Limits{})
	if err != nil || len(rejects) != 0 || len(recs) != 5000 {
		t.Fatalf("generated NDJSON: %d records, rejects %v, %v", len(recs), rejects, err)
	}
	levels := map[string]int{}
	for _, r := range recs {
		levels[r.Level]++
	}
	if levels["info"] < 3000 || levels["error"] == 0 || levels["warn"] == 0 {
		t.Errorf("level mix = %v", levels)
	}
	if !strings.Contains(string(ba), "at Function.Module._load") {
		t.Error("no long lines")
	}
}
