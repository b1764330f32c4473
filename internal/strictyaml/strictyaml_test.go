package strictyaml_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"slokeeper/internal/strictyaml"
)

type upper string

func (u *upper) UnmarshalText(b []byte) error {
	if strings.ToUpper(string(b)) != string(b) {
		return fmt.Errorf("%q is not upper case", b)
	}
	*u = upper(b)
	return nil
}

type inner struct {
	Code  upper   `yaml:"code"`
	Ratio float64 `yaml:"ratio,omitempty"`
}

type doc struct {
	Name   string   `yaml:"name"`
	Count  int      `yaml:"count"`
	On     bool     `yaml:"on,omitempty"`
	Tags   []string `yaml:"tags,omitempty"`
	Inner  inner    `yaml:"inner"`
	Extra  *inner   `yaml:"extra"`
	Inners []inner  `yaml:"inners,omitempty"`
}

func TestDecode(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		src := "name: a\ncount: 3\non: true\ntags: [x, y]\ninner:\n  code: AB\n  ratio: 2\ninners:\n  - code: C\n  - code: D\n    ratio: 0.5\n"
		var d doc
		pos, problems := strictyaml.Decode([]byte(src), &d)
		if len(problems) != 0 {
			t.Fatalf("problems: %v", problems)
		}
		if d.Name != "a" || d.Count != 3 || !d.On || len(d.Tags) != 2 || d.Inner.Code != "AB" || d.Inner.Ratio != 2 || d.Extra != nil || d.Inners[1].Ratio != 0.5 {
			t.Errorf("decoded %+v", d)
		}
		if got, want := pos.Of("inners[1].ratio"), (strictyaml.Pos{Line: 11, Col: 12}); got != want {
			t.Errorf("pos of inners[1].ratio = %v, want %v", got, want)
		}
		// An undecoded path falls back to its nearest ancestor.
		if got, want := pos.Of("inner.nothing"), (strictyaml.Pos{Line: 6, Col: 3}); got != want {
			t.Errorf("pos of inner.nothing = %v, want %v", got, want)
		}
	})
	tests := []struct {
		name string
		src  string
		want []string // every problem, "line:col: message substring"
	}{
		{"ErrUnknownKeyTypo", "name: a\ncount: 1\ninner: {code: A}\ncuont: 2\n", []string{`4:1: unknown key "cuont" in the top level (did you mean "count"?)`}},
		{"ErrUnknownKeyList", "name: a\ncount: 1\ninner:\n  code: A\n  zzzzzz: 1\n", []string{`5:3: unknown key "zzzzzz" in inner (known keys: code, ratio)`}},
		{"ErrMissing", "name: a\ninner: {}\n", []string{`1:1: missing key "count" in the top level`, `2:8: missing key "code" in inner`}},
		{"ErrDuplicate", "name: a\ncount: 1\nname: b\ninner: {code: A}\n", []string{`3:1: duplicate key "name" in the top level (first at line 1)`}},
		{"ErrTypes", "name: [1]\ncount: many\non: maybe\ninner: {code: A, ratio: x}\n", []string{`1:7: name: want a text`, `2:8: count: want a whole number, got "many"`, `3:5: on: want true or false`, `4:25: inner.ratio: want a number`}},
		{"ErrTextUnmarshaler", "name: a\ncount: 1\ninner: {code: ab}\n", []string{`3:15: inner.code: "ab" is not upper case`}},
		{"ErrNotMapping", "- a\n- b\n", []string{`1:1: the top level: want a mapping of keys, got a list`}},
		{"ErrSyntaxScanner", "name: a\n  count: 1\n", []string{`2:1: YAML syntax: mapping values are not allowed`}},
		{"ErrSyntaxParserFlow", "count: 1\nname: [a\ninner: {}\n", []string{`2:1: YAML syntax: did not find expected ',' or ']'`}},
		{"ErrSyntaxParserIndent", "tags:\n  - a\n - b\n", []string{`3:1: YAML syntax: did not find expected key`}},
		{"ErrEmpty", "", []string{`1:1: the file is empty`}},
		{"ErrTwoDocuments", "name: a\n---\nname: b\n", []string{`2:1: only one YAML document`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d doc
			_, problems := strictyaml.Decode([]byte(tt.src), &d)
			var got []string
			for _, p := range problems {
				got = append(got, fmt.Sprintf("%d:%d: %s", p.Pos.Line, p.Pos.Col, p.Message))
			}
			if len(got) != len(tt.want) && tt.name != "ErrAliasBomb" {
				t.Errorf("got %d problems %q, want %d", len(got), got, len(tt.want))
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.Contains(g, w) }) {
					t.Errorf("problems %q: none contains %q", got, w)
				}
			}
		})
	}
}

type tree struct {
	Kids []tree `yaml:"kids,omitempty"`
}

// TestDecodeAliasBomb feeds a document whose aliases expand to 10^9 nodes
// ("billion laughs"): decoding must stop with a problem, not run for ever.
func TestDecodeAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("kids:\n  - &a0 {kids: [{}, {}, {}, {}, {}, {}, {}, {}, {}, {}]}\n")
	for i := 1; i < 9; i++ {
		p := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&b, "  - &a%d {kids: [%s]}\n", i, strings.Repeat(p+", ", 9)+p)
	}
	var tr tree
	_, problems := strictyaml.Decode([]byte(b.String()), &tr)
	if len(problems) != 1 || !strings.Contains(problems[0].Message, "expands too much through aliases") {
		t.Fatalf("problems = %v, want one about aliases", problems)
	}
}

// FuzzDecode checks that any input decodes or yields positioned problems,
// without panicking, into a target that uses every supported kind.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("name: a\ncount: 3\non: true\ntags: [x, y]\ninner: {code: AB, ratio: 2}\ninners: [{code: C}]\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("name: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d doc
		_, problems := strictyaml.Decode(data, &d)
		for _, p := range problems {
			if p.Pos.Line < 1 || p.Pos.Col < 1 || p.Message == "" {
				t.Fatalf("problem without position or message: %+v", p)
			}
		}
	})
}
