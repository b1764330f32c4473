package sqlbuild_test

import (
	"reflect"
	"testing"

	"slokeeper/internal/sqlbuild"
)

func TestWhere(t *testing.T) {
	build := func(l *sqlbuild.List) *sqlbuild.List {
		return l.Eq("id", "a").Eq("name", "").Raw("disabled_at IS NULL").Add("day = ?::date", "2026-12-03")
	}
	if l := build(sqlbuild.Question()); l.String() != "id = ? AND disabled_at IS NULL AND day = ?::date" || !reflect.DeepEqual(l.Args(), []any{"a", "2026-12-03"}) {
		t.Errorf("SQLite: %s %v", l, l.Args())
	}
	if l := build(sqlbuild.Dollar()); l.String() != "id = $1 AND disabled_at IS NULL AND day = $2::date" {
		t.Errorf("PostgreSQL: %s", l)
	}
	if l := sqlbuild.Dollar(); l.String() != "1 = 1" || len(l.Args()) != 0 {
		t.Errorf("empty: %s %v", l, l.Args())
	}
}

func TestUpdate(t *testing.T) {
	set := sqlbuild.Dollar().Add("role = ?", "admin").Add("disabled_at = ?", nil)
	q := "UPDATE operators SET " + set.Set() + " WHERE id = " + set.Arg("op-1")
	if q != "UPDATE operators SET role = $1, disabled_at = $2 WHERE id = $3" || !reflect.DeepEqual(set.Args(), []any{"admin", nil, "op-1"}) || set.Len() != 2 {
		t.Errorf("%s %v", q, set.Args())
	}
}
