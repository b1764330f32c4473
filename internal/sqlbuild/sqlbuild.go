// Package sqlbuild builds the variable parts of hand-written queries, the
// WHERE clause of a filter and the SET list of an update, for both
// storage engines: parts are written with "?" and numbered ($1, $2, …) for
// PostgreSQL.
package sqlbuild

import (
	"strconv"
	"strings"
)

// List is a list of SQL parts and their arguments.
type List struct {
	parts  []string
	args   []any
	dollar bool
}

// Question returns a List with SQLite's "?" placeholders.
func Question() *List { return &List{} }

// Dollar returns a List with PostgreSQL's numbered placeholders.
func Dollar() *List { return &List{dollar: true} }

// Arg adds an argument and returns its placeholder.
func (l *List) Arg(v any) string {
	l.args = append(l.args, v)
	if l.dollar {
		return "$" + strconv.Itoa(len(l.args))
	}
	return "?"
}

// Add adds a part with one "?" placeholder, for v.
func (l *List) Add(part string, v any) *List {
	l.parts = append(l.parts, strings.Replace(part, "?", l.Arg(v), 1))
	return l
}

// Eq adds "col = ?" for v, unless v is empty (the filter does not use it).
func (l *List) Eq(col, v string) *List {
	if v != "" {
		l.Add(col+" = ?", v)
	}
	return l
}

// Raw adds a part without arguments.
func (l *List) Raw(part string) *List {
	l.parts = append(l.parts, part)
	return l
}

// Len is the number of parts.
func (l *List) Len() int { return len(l.parts) }

// String returns the parts as a WHERE condition: joined by AND, "1 = 1"
// when there are none.
func (l *List) String() string {
	if len(l.parts) == 0 {
		return "1 = 1"
	}
	return strings.Join(l.parts, " AND ")
}

// Set returns the parts as an UPDATE's SET list.
func (l *List) Set() string { return strings.Join(l.parts, ", ") }

// Args returns the arguments, in placeholder order.
func (l *List) Args() []any { return l.args }
