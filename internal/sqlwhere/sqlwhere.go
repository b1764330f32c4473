// Package sqlwhere builds the WHERE clause of a query from the fields a
// filter sets, for both storage engines: conditions are written with "?"
// and numbered ($1, $2, …) for PostgreSQL.
package sqlwhere

import (
	"strconv"
	"strings"
)

// Where is a conjunction of conditions and their arguments.
type Where struct {
	conds  []string
	args   []any
	dollar bool
}

// Question returns a Where with SQLite's "?" placeholders.
func Question() *Where { return &Where{} }

// Dollar returns a Where with PostgreSQL's numbered placeholders.
func Dollar() *Where { return &Where{dollar: true} }

// Add adds a condition with one "?" placeholder, for v.
func (w *Where) Add(cond string, v any) *Where {
	w.args = append(w.args, v)
	if w.dollar {
		cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(w.args)), 1)
	}
	w.conds = append(w.conds, cond)
	return w
}

// Eq adds "col = ?" for v, unless v is empty (the filter does not use it).
func (w *Where) Eq(col, v string) *Where {
	if v != "" {
		w.Add(col+" = ?", v)
	}
	return w
}

// Raw adds a condition without arguments.
func (w *Where) Raw(cond string) *Where {
	w.conds = append(w.conds, cond)
	return w
}

// String returns the conditions joined by AND; "1 = 1" when there are none.
func (w *Where) String() string {
	if len(w.conds) == 0 {
		return "1 = 1"
	}
	return strings.Join(w.conds, " AND ")
}

// Args returns the arguments, in placeholder order.
func (w *Where) Args() []any { return w.args }
