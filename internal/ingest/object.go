package ingest

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"slokeeper"
)

// ParseObject turns one JSON object into a record: message, level and the
// sender's timestamp from their usual names, and every other field into
// Attrs, merged with an "attrs" object if there is one (a top-level field
// wins over an attrs member of the same name). Attrs holds the values as
// sent. It reads the object in one pass, validating as it goes; invalid
// JSON, a value that is not an object, and an object without a message are
// refused. It agrees with encoding/json on what is valid JSON, which a
// differential fuzz test checks.
func ParseObject(b []byte) (slokeeper.LogRecord, error) { return parseObject(b, false) }

// ParseEvent turns one enebular-agent (winston) event into a record:
// message, level and timestamp as ParseObject reads them, and every other
// field into Attrs as sent, an "attrs" field included. The agent's
// transport spreads its metadata over the event, so an "attrs" key is the
// sender's own data: neither merged into the others nor refused when it
// is not an object.
func ParseEvent(b []byte) (slokeeper.LogRecord, error) { return parseObject(b, true) }

// parseObject is ParseObject, or ParseEvent when ownAttrs.
func parseObject(b []byte, ownAttrs bool) (slokeeper.LogRecord, error) {
	var rec slokeeper.LogRecord
	if !utf8.Valid(b) {
		return rec, errors.New("not valid UTF-8")
	}
	p := parser{b: b}
	p.ws()
	if !p.eat('{') {
		return rec, errNotObject
	}
	var backing [16]field
	all := backing[:0]
	p.ws()
	if !p.eat('}') {
		for {
			p.ws()
			key, err := p.key()
			if err != nil {
				return rec, errNotObject
			}
			p.ws()
			if !p.eat(':') {
				return rec, errNotObject
			}
			p.ws()
			start := p.i
			if err := p.skipValue(0); err != nil {
				return rec, errNotObject
			}
			all = append(all, field{key: key, raw: b[start:p.i], str: b[start] == '"'})
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat('}') {
				break
			}
			return rec, errNotObject
		}
	}
	if p.ws() != len(b) {
		return rec, errNotObject
	}
	// Each part takes the first of its names present, with that name's last
	// value (JSON's duplicate keys: the last wins); other names are attributes.
	last := func(key string) *field {
		for i := len(all) - 1; i >= 0; i-- {
			if string(all[i].key) == key {
				return &all[i]
			}
		}
		return nil
	}
	// taken holds the names the parts were read from; a part absent has
	// none (ok false), so a field with an empty key is never mistaken for it.
	var taken [3]struct {
		name string
		ok   bool
	}
	pick := func(slot int, names []string) *field {
		for _, n := range names {
			if f := last(n); f != nil {
				taken[slot].name, taken[slot].ok = n, true
				return f
			}
		}
		return nil
	}
	isTaken := func(k string) bool {
		for _, t := range taken {
			if t.ok && t.name == k {
				return true
			}
		}
		return false
	}
	msg, level, ts := pick(0, messageKeys), pick(1, levelKeys), pick(2, timeKeys)
	var attrs []byte
	if f := last("attrs"); f != nil && string(f.raw) != "null" && !ownAttrs {
		attrs = f.raw
	}
	extras := all[:0:0]
	for _, f := range all {
		k := string(f.key) // compared, not kept: no allocation
		if (ownAttrs || k != "attrs") && !isTaken(k) {
			extras = append(extras, f)
		}
	}
	if msg == nil {
		return rec, errors.New(`no "message" field`)
	}
	var err error
	if rec.Message, err = text(msg.raw, msg.str); err != nil {
		return rec, fmt.Errorf("message: %w", err)
	}
	if len(rec.Message) > maxMessageBytes {
		return rec, fmt.Errorf("message is longer than %d bytes", maxMessageBytes)
	}
	if level != nil {
		l, _ := text(level.raw, level.str)
		rec.Level = strings.ToLower(l)
	}
	if ts != nil {
		rec.SenderTime, rec.SenderTimeRaw = parseTime(ts.raw)
	}
	if attrs != nil && (len(attrs) == 0 || attrs[0] != '{') {
		return rec, errors.New(`"attrs" is not a JSON object`)
	}
	rec.Attrs = mergeAttrs(attrs, extras)
	return rec, nil
}

var errNotObject = errors.New("not a JSON object")

// field is one member of the object being read. key is the key's text:
// a slice of the input when it had no escapes, decoded otherwise.
type field struct {
	key []byte
	raw []byte
	str bool // raw is a JSON string
}

// mergeAttrs writes the attrs object's members and then the extra
// top-level fields as one object, each key once (its last value).
func mergeAttrs(attrs []byte, extras []field) []byte {
	type kv struct {
		key []byte
		raw []byte
	}
	var pairs []kv
	if len(attrs) > 0 {
		p := parser{b: attrs}
		p.eat('{')
		p.ws()
		for !p.eat('}') {
			p.ws()
			k, _ := p.key()
			p.ws()
			p.eat(':')
			p.ws()
			start := p.i
			p.skipValue(0)
			pairs = append(pairs, kv{k, attrs[start:p.i]})
			p.ws()
			p.eat(',')
			p.ws()
		}
	}
	for _, e := range extras {
		pairs = append(pairs, kv{e.key, e.raw})
	}
	if len(pairs) == 0 {
		return nil
	}
	out := make([]byte, 0, len(attrs)+64)
	out = append(out, '{')
	n := 0
	for i, pr := range pairs {
		last := true
		for _, later := range pairs[i+1:] {
			if string(later.key) == string(pr.key) {
				last = false
				break
			}
		}
		if !last {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = appendKey(out, pr.key)
		out = append(out, ':')
		out = append(out, pr.raw...)
		n++
	}
	return append(out, '}')
}

// appendKey writes a key as a JSON string: as it came when that is
// already valid (no quote, backslash or control character), else with
// those escaped as RFC 8259 says (never Go's quoting: \x7f is not JSON).
func appendKey(out, key []byte) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	for _, c := range key {
		switch {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		case c < 0x20:
			out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			out = append(out, c)
		}
	}
	return append(out, '"')
}

// key reads an object key: a slice of the input unless it has escapes.
func (p *parser) key() ([]byte, error) {
	start, end, escaped, err := p.scanStr()
	if err != nil {
		return nil, err
	}
	if escaped {
		return []byte(unescape(p.b[start:end])), nil
	}
	return p.b[start:end], nil
}

// text returns a JSON string's text, or any other JSON value as written.
func text(raw []byte, isString bool) (string, error) {
	if !isString {
		return string(raw), nil
	}
	p := parser{b: raw}
	s, _, err := p.str()
	return s, err
}

// parser reads JSON from b at i. Its checks follow RFC 8259, as
// encoding/json's do.
type parser struct {
	b []byte
	i int
}

func (p *parser) ws() int {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return p.i
		}
	}
	return p.i
}

func (p *parser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

var errSyntax = errors.New("invalid JSON")

// maxDepth matches encoding/json's nesting limit.
const maxDepth = 10000

// skipValue moves past one valid JSON value.
func (p *parser) skipValue(depth int) error {
	if depth > maxDepth || p.i >= len(p.b) {
		return errSyntax
	}
	switch c := p.b[p.i]; {
	case c == '"':
		_, _, _, err := p.scanStr()
		return err
	case c == '{' || c == '[':
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		p.i++
		p.ws()
		if p.eat(close) {
			return nil
		}
		for {
			p.ws()
			if c == '{' {
				if _, _, _, err := p.scanStr(); err != nil {
					return err
				}
				p.ws()
				if !p.eat(':') {
					return errSyntax
				}
				p.ws()
			}
			if err := p.skipValue(depth + 1); err != nil {
				return err
			}
			p.ws()
			if p.eat(close) {
				return nil
			}
			if !p.eat(',') {
				return errSyntax
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if strings.HasPrefix(string(p.b[p.i:min(len(p.b), p.i+len(lit))]), lit) {
				p.i += len(lit)
				return nil
			}
		}
		return errSyntax
	}
}

func (p *parser) digits() int {
	n := 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

func (p *parser) number() error {
	p.eat('-')
	switch {
	case p.eat('0'):
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		p.digits()
	default:
		return errSyntax
	}
	if p.eat('.') && p.digits() == 0 {
		return errSyntax
	}
	if p.eat('e') || p.eat('E') {
		if !p.eat('+') {
			p.eat('-')
		}
		if p.digits() == 0 {
			return errSyntax
		}
	}
	return nil
}

// scanStr moves past a JSON string at p.i, checking it, and returns the
// bounds of its content and whether it has escapes. It allocates nothing.
func (p *parser) scanStr() (start, end int, escaped bool, err error) {
	if !p.eat('"') {
		return 0, 0, false, errSyntax
	}
	start = p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return start, p.i - 1, escaped, nil
		case c < 0x20:
			return 0, 0, false, errSyntax
		case c == '\\':
			escaped = true
			p.i++
			if p.i >= len(p.b) {
				return 0, 0, false, errSyntax
			}
			switch p.b[p.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				p.i++
				if _, ok := p.hex4(); !ok {
					return 0, 0, false, errSyntax
				}
			default:
				return 0, 0, false, errSyntax
			}
			continue
		}
		p.i++
	}
	return 0, 0, false, errSyntax
}

// str reads a JSON string and returns its text.
func (p *parser) str() (string, bool, error) {
	start, end, escaped, err := p.scanStr()
	if err != nil {
		return "", false, err
	}
	if !escaped {
		return string(p.b[start:end]), false, nil
	}
	return unescape(p.b[start:end]), true, nil
}

// unescape decodes the content of a JSON string that scanStr checked.
// A lone surrogate becomes U+FFFD, as encoding/json does.
func unescape(b []byte) string {
	out := make([]byte, 0, len(b))
	p := parser{b: b}
	for p.i < len(b) {
		c := b[p.i]
		p.i++
		if c != '\\' {
			out = append(out, c)
			continue
		}
		e := b[p.i]
		p.i++
		switch e {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := p.hex4()
			if utf16.IsSurrogate(r) {
				save := p.i
				if p.i+1 < len(b) && b[p.i] == '\\' && b[p.i+1] == 'u' {
					p.i += 2
					if r2, ok := p.hex4(); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							out = utf8.AppendRune(out, dec)
							continue
						}
					}
				}
				p.i = save
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default: // '"', '\\', '/'
			out = append(out, e)
		}
	}
	return string(out)
}

func (p *parser) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}
