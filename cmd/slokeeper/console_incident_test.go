package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"slokeeper"
	"slokeeper/internal/browsertest"

	"github.com/chromedp/chromedp"
)

// TestConsoleSupportAnswersWithIncidentUpdate: support signs in, opens an
// open incident, picks the "identified" usual text, posts the update; the
// public incident page shows it, and the incident's status is the one
// support chose.
func TestConsoleSupportAnswersWithIncidentUpdate(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	m := NewMain(cfg, io.Discard)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	ops := signIn(t, m, "olga", "operator")
	resp, err := ops.Post(m.HTTP.URL()+"/api/v1/incidents", "application/json", strings.NewReader(
		`{"title_ja":"APIの応答遅延","title_en":"Slow API","impact":"major","body_ja":"調査しております。","body_en":"Investigating."}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("opening an incident = %d", resp.StatusCode)
	}
	incs, err := m.Store.Incidents.FindIncidents(context.Background(), slokeeper.IncidentFilter{Open: true})
	if err != nil || len(incs) != 1 {
		t.Fatalf("open incidents: %v %v", incs, err)
	}
	id := incs[0].ID

	signIn(t, m, "sam", "support")
	ctx := browsertest.Browser(t)
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	read := func(a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	text := func(sel string) string { return read(chromedp.Text(css(sel))) }
	value := func(sel string) string { return read(chromedp.Value(css(sel))) }
	do(chromedp.Navigate(m.HTTP.URL()+"/admin/login?lang=ja"), chromedp.WaitVisible(css(`#name`)),
		chromedp.SendKeys(css(`#name`), "sam"), chromedp.SendKeys(css(`#password`), "a long test password"),
		chromedp.Click(css(`button[type=submit]`)), chromedp.WaitVisible(css(`form[action^="/admin/logout"]`)))
	do(chromedp.Navigate(m.HTTP.URL()+"/admin/status?lang=ja"), chromedp.WaitVisible(css(`a[href^="/admin/incidents/`+id+`"]`)),
		chromedp.Click(css(`h3 a[href^="/admin/incidents/`+id+`"]`)), chromedp.WaitVisible(css(`#choose-template`)),
		chromedp.SetValue(css(`#template`), "identified"), chromedp.Click(css(`#use-template`)),
		chromedp.WaitReady(css(`#template option[value="identified"][selected]`)))
	if v := value(`#body_ja`); !strings.Contains(v, "原因を特定いたしました") {
		t.Fatalf("the identified text is not filled in: %q", v)
	}
	do(chromedp.SetValue(css(`#status`), "identified"), chromedp.Click(css(`#post`)), chromedp.WaitVisible(css(`p.done`)))
	if s := text(`#incident-status`); s != "原因特定" {
		t.Errorf("the incident page's status after the update: %q", s)
	}

	do(chromedp.Navigate(m.HTTP.URL()+"/incidents/"+id+"?lang=ja"), chromedp.WaitVisible(css(`main`)))
	if b := text(`main`); !strings.Contains(b, "原因を特定いたしました") || !strings.Contains(b, "原因特定") {
		t.Errorf("the public incident page:\n%s", b)
	}
	incs, _ = m.Store.Incidents.FindIncidents(context.Background(), slokeeper.IncidentFilter{ID: id})
	if len(incs) != 1 || incs[0].Status != slokeeper.IncidentIdentified || len(incs[0].Updates) != 2 || incs[0].Updates[1].By != "operator:sam" {
		t.Errorf("stored: %+v", incs)
	}
}
