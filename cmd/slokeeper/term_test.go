package main

import (
	"strings"
	"testing"
)

func TestTermSafe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text 日本語", "plain text 日本語"},
		{"\x1b[2Jgone", `\x1b[2Jgone`},
		{"line\nforged line\r", `line\nforged line\r`},
		{"tab\tcolumn", `tab\tcolumn`},
		{"bell\x07 del\x7f nul\x00", `bell\x07 del\x7f nul\x00`},
		{"c1 \u009b31m csi", `c1 \u009b31m csi`},
		{"user\u202etxt.exe", `user\u202etxt.exe`},
		{"\u2066isolate\u2069 \u200f", `\u2066isolate\u2069 \u200f`},
		{"bad \xff byte", `bad \xff byte`},
	} {
		if got := termSafe(tc.in); got != tc.want {
			t.Errorf("termSafe(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestCLIEscapesStoredText: a name with terminal controls, stored by one
// user, is shown escaped to the operator who lists sources or reads the
// audit ledger, not obeyed by their terminal.
func TestCLIEscapesStoredText(t *testing.T) {
	data := t.TempDir()
	name := "api\x1b]0;owned\x07\u202eservers"
	if _, stderr, code := cliRun(t, "source", "add", "--data", data, "--kind", "app", "--name", name); code != 0 {
		t.Fatalf("source add: exit %d %s", code, stderr)
	}
	for _, args := range [][]string{{"source", "list", "--data", data}, {"audit", "show", "--data", data}} {
		out, stderr, code := cliRun(t, args...)
		if code != 0 || strings.ContainsAny(out, "\x1b\x07\u202e") || !strings.Contains(out, `api\x1b]0;owned\`) {
			t.Errorf("%s: exit %d, output %q%s; want the name escaped", strings.Join(args[:2], " "), code, out, stderr)
		}
	}
}
