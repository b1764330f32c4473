package policy_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"slokeeper/policy"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test ./policy -update after checking the change):\n%s", name, got)
	}
}

func TestWriteText(t *testing.T) {
	for _, lang := range policy.Languages {
		t.Run(lang, func(t *testing.T) {
			var b bytes.Buffer
			if err := policy.WriteText(&b, policy.Default(), lang); err != nil {
				t.Fatal(err)
			}
			golden(t, "show."+lang+".txt", b.Bytes())
		})
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := policy.WriteJSON(&b, policy.Default()); err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b.Bytes(), &v); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	golden(t, "show.json", b.Bytes())
}
