// Package strictyaml decodes YAML into Go structs strictly and with
// positions: unknown, duplicate and missing keys and ill-typed values are all
// reported at once, each with its line and column, and the position of every
// decoded value is kept so later validation can point at the exact spot.
//
// Rules for the target struct: a field is decoded from the key named in its
// `yaml` tag; a field is required unless its tag says ",omitempty" or it is a
// pointer; types implementing encoding.TextUnmarshaler decode from a scalar.
// Supported kinds: structs, pointers to structs, slices, strings, bools,
// ints and float64.
package strictyaml

import (
	"bytes"
	"cmp"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pos is a 1-based line and column in the source.
type Pos struct {
	Line, Col int
}

// Problem is something wrong with the input, at a position.
type Problem struct {
	Pos     Pos
	Message string
}

// Positions maps decoded paths ("maintenance.notice", "support.hours.mon[1]")
// to where their values stand in the source.
type Positions map[string]Pos

// Of returns the position of path, or of its nearest decoded ancestor.
func (p Positions) Of(path string) Pos {
	for {
		if pos, ok := p[path]; ok {
			return pos
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return p[""]
		}
		path = path[:i]
	}
}

// MsgEmpty is the message of the one problem Decode reports for a document
// with nothing in it (or only comments), for callers where that is fine.
const MsgEmpty = "the file is empty"

// maxNodes bounds the work an input can cause: aliases can make a small
// document expand exponentially ("billion laughs").
const maxNodes = 100000

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// Decode decodes data into v, which must be a pointer to a struct. It
// returns the positions of everything decoded and every problem found; v
// is only meaningful when there are no problems.
func Decode(data []byte, v any) (Positions, []Problem) {
	d := &decoder{pos: Positions{}}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return d.pos, []Problem{{Pos{1, 1}, MsgEmpty}}
		}
		return d.pos, []Problem{syntaxProblem(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return d.pos, []Problem{{Pos{extra.Line, extra.Column}, "only one YAML document is allowed; found a second one"}}
	} else if !errors.Is(err, io.EOF) {
		return d.pos, []Problem{syntaxProblem(err)}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return d.pos, []Problem{{Pos{1, 1}, MsgEmpty}}
		}
		root = root.Content[0]
	}
	d.decode(root, reflect.ValueOf(v).Elem(), "")
	slices.SortStableFunc(d.problems, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	return d.pos, d.problems
}

var lineRE = regexp.MustCompile(`^line (\d+): `)

// parserErrors are the yaml package's parser (not scanner) errors: it
// reports their line 0-based, and scanner errors' 1-based. The text is all
// it gives to tell them apart.
var parserErrors = []string{
	"did not find expected key",
	"did not find expected node content",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"found undefined tag handle",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

// syntaxProblem turns a YAML syntax error ("yaml: line 3: mapping values
// are not allowed in this context") into a positioned problem.
func syntaxProblem(err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
		if slices.ContainsFunc(parserErrors, func(p string) bool { return strings.HasPrefix(msg, p) }) {
			line++
		}
	}
	return Problem{Pos{line, 1}, "YAML syntax: " + msg}
}

type decoder struct {
	pos      Positions
	problems []Problem
	nodes    int
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.problems = append(d.problems, Problem{Pos{n.Line, n.Column}, fmt.Sprintf(format, args...)})
}

func describe(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	d.nodes++
	if d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.errorf(n, "the document is too large or expands too much through aliases")
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		d.decode(n.Alias, v, path)
		return
	}
	d.pos[path] = Pos{n.Line, n.Column}

	if v.Kind() != reflect.Pointer && v.CanAddr() && v.Addr().Type().Implements(textUnmarshalerType) {
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "%s: want a single value, got %s", describe(path), kindName(n))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.errorf(n, "%s: %s", describe(path), err.Error())
		}
		return
	}

	switch v.Kind() {
	case reflect.Pointer:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.SetZero()
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.SetZero()
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, "%s: want a list, got %s", describe(path), kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			d.errorf(n, "%s: want a text, got %s", describe(path), kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, ok := scalar(n, "!!bool")
		if !ok {
			d.errorf(n, "%s: want true or false, got %s", describe(path), kindName(n))
			return
		}
		v.SetBool(b == "true")
	case reflect.Int:
		s, ok := scalar(n, "!!int")
		i, err := strconv.ParseInt(s, 0, 64)
		if !ok || err != nil {
			d.errorf(n, "%s: want a whole number, got %s", describe(path), kindName(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		s, ok := scalar(n, "!!float")
		if !ok {
			s, ok = scalar(n, "!!int")
		}
		f, err := strconv.ParseFloat(s, 64)
		if !ok || err != nil {
			d.errorf(n, "%s: want a number, got %s", describe(path), kindName(n))
			return
		}
		v.SetFloat(f)
	default:
		panic(fmt.Sprintf("strictyaml: unsupported kind %s at %s", v.Kind(), path))
	}
}

func scalar(n *yaml.Node, tag string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != tag {
		return "", false
	}
	if tag == "!!bool" {
		return strings.ToLower(n.Value), true
	}
	return n.Value, true
}

type field struct {
	name     string
	index    int
	required bool
}

func fields(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("yaml")
		if !ok || tag == "-" || !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fs = append(fs, field{
			name:     name,
			index:    i,
			required: !strings.Contains(opts, "omitempty") && sf.Type.Kind() != reflect.Pointer,
		})
	}
	return fs
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: want a mapping of keys, got %s", describe(path), kindName(n))
		return
	}
	fs := fields(v.Type())
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%s: keys must be plain names", describe(path))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, "duplicate key %q in %s (first at line %d)", k.Value, describe(path), first.Line)
			continue
		}
		seen[k.Value] = k
		f, ok := lookup(fs, k.Value)
		if !ok {
			d.errorf(k, "unknown key %q in %s%s", k.Value, describe(path), suggest(k.Value, fs))
			continue
		}
		d.decode(val, v.Field(f.index), join(path, k.Value))
	}
	for _, f := range fs {
		if _, ok := seen[f.name]; !ok && f.required {
			d.errorf(n, "missing key %q in %s", f.name, describe(path))
		}
	}
}

func lookup(fs []field, name string) (field, bool) {
	for _, f := range fs {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest names the closest known key when the unknown one looks like a
// typo, and otherwise lists the known keys.
func suggest(key string, fs []field) string {
	best, bestDist := "", 3
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
		if dist := levenshtein(key, f.name); dist < bestDist {
			best, bestDist = f.name, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (known keys: " + strings.Join(names, ", ") + ")"
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
