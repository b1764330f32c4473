package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestHelpEverywhere walks the command tree as the usage texts show it
// (slokeeper --help, then each group's --help) and checks that every
// command and group answers --help and -h with exit 0 and some usage.
func TestHelpEverywhere(t *testing.T) {
	top, _, code := cliRun(t, "--help")
	if code != 0 {
		t.Fatalf("slokeeper --help = %d", code)
	}
	word := `[a-z][a-z-]*`
	groups := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  slokeeper (`+word+`)`).FindAllStringSubmatch(top, -1) {
		groups[m[1]] = true
	}
	for _, g := range []string{"login", "logout", "whoami", "serve", "account", "grant", "operator", "logs", "audit", "backup", "incident", "source", "access", "obligation"} {
		if !groups[g] {
			t.Errorf("slokeeper --help does not list %s", g)
		}
	}
	var commands [][]string
	for g := range groups {
		commands = append(commands, []string{g})
		out, errOut, _ := cliRun(t, g, "--help")
		sub := regexp.MustCompile(`(?m)slokeeper ` + g + ` (` + word + `(?: ` + word + `)?)`)
		for _, m := range sub.FindAllStringSubmatch(out+errOut, -1) {
			// "token create", "catalog rebuild": two words when the
			// group's help names them so.
			for _, alt := range strings.Split(m[1], "|") {
				c := append([]string{g}, strings.Fields(alt)...)
				if !slices.ContainsFunc(commands, func(x []string) bool { return slices.Equal(x, c) }) {
					commands = append(commands, c)
				}
			}
		}
	}
	if len(commands) < 40 {
		t.Errorf("found only %d commands in the usage texts: %v", len(commands), commands)
	}
	for _, c := range commands {
		for _, h := range []string{"--help", "-h"} {
			out, errOut, code := cliRun(t, append(slices.Clone(c), h)...)
			if code != 0 || !strings.Contains(out+errOut, "Usage") && !strings.Contains(out+errOut, "usage") {
				t.Errorf("slokeeper %s %s = exit %d\n%s%s", strings.Join(c, " "), h, code, out, errOut)
			}
		}
	}
}
