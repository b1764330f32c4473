package slokeeper_test

import (
	"encoding/json"
	"strings"
	"testing"

	"slokeeper"
)

func TestIncidentPublic(t *testing.T) {
	inc := &slokeeper.Incident{ID: "in_1", TitleEN: "Delays", Updates: []slokeeper.IncidentUpdate{
		{ID: 1, Status: slokeeper.IncidentInvestigating, BodyEN: "Looking", By: "operator:alice token:tok_1"},
		{ID: 2, Status: slokeeper.IncidentResolved, BodyEN: "Fixed", By: "system:node-1"},
	}}
	b, _ := json.Marshal(inc.Public())
	if s := string(b); strings.Contains(s, "alice") || strings.Contains(s, "tok_1") || strings.Contains(s, "node-1") || strings.Contains(s, `"by"`) ||
		!strings.Contains(s, "Looking") || !strings.Contains(s, "Fixed") {
		t.Errorf("public incident = %s", s)
	}
	if inc.Updates[0].By != "operator:alice token:tok_1" {
		t.Errorf("Public changed the original: %+v", inc.Updates[0])
	}
	if p := (&slokeeper.Incident{ID: "in_2"}).Public(); p.Updates != nil {
		t.Errorf("no updates became %#v", p.Updates)
	}
}
