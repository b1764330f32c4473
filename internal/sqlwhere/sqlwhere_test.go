package sqlwhere_test

import (
	"reflect"
	"testing"

	"slokeeper/internal/sqlwhere"
)

func TestWhere(t *testing.T) {
	build := func(w *sqlwhere.Where) *sqlwhere.Where {
		return w.Eq("id", "a").Eq("name", "").Raw("disabled_at IS NULL").Add("day = ?::date", "2026-12-03")
	}
	if w := build(sqlwhere.Question()); w.String() != "id = ? AND disabled_at IS NULL AND day = ?::date" || !reflect.DeepEqual(w.Args(), []any{"a", "2026-12-03"}) {
		t.Errorf("SQLite: %s %v", w, w.Args())
	}
	if w := build(sqlwhere.Dollar()); w.String() != "id = $1 AND disabled_at IS NULL AND day = $2::date" {
		t.Errorf("PostgreSQL: %s", w)
	}
	if w := sqlwhere.Dollar(); w.String() != "1 = 1" || len(w.Args()) != 0 {
		t.Errorf("empty: %s %v", w, w.Args())
	}
}
