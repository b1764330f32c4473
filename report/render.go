package report

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"time"

	"slokeeper"
	"slokeeper/policy"
)

// Languages a report renders in.
const (
	LangJA = "ja"
	LangEN = "en"
)

// CheckLang reports whether lang is one a report renders in.
func CheckLang(lang string) error {
	if lang != LangJA && lang != LangEN {
		return slokeeper.Errorf(slokeeper.EINVALID, "Language %q is not ja or en. / 言語 %q は ja でも en でもありません。", lang, lang)
	}
	return nil
}

func pick(t policy.Text, lang string) string {
	if lang == LangJA {
		return t.JA
	}
	return t.EN
}

// The JSON view: the model with its texts in one language. Field names
// are stable; order is the model's (policy order, then time).
type jsonReport struct {
	Lang    string       `json:"lang"`
	Service string       `json:"service"`
	From    time.Time    `json:"from"`
	To      time.Time    `json:"to"`
	Zone    string       `json:"zone"`
	Clauses []jsonClause `json:"clauses"`
}

type jsonClause struct {
	ID         string        `json:"id"`
	Text       string        `json:"text"`
	State      string        `json:"state"`
	Reason     string        `json:"reason,omitempty"`
	Figures    []Figure      `json:"figures"`
	Exceptions []Exception   `json:"exceptions"`
	Findings   []jsonFinding `json:"findings"`
}

type jsonFinding struct {
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
}

// WriteJSON writes r in lang as indented JSON.
func WriteJSON(w io.Writer, r *Report, lang string) error {
	if err := CheckLang(lang); err != nil {
		return err
	}
	out := jsonReport{Lang: lang, Service: pick(r.Service, lang), From: r.From, To: r.To, Zone: r.Zone, Clauses: []jsonClause{}}
	for _, c := range r.Clauses {
		jc := jsonClause{ID: c.ID, Text: pick(c.Text, lang), State: c.State, Figures: c.Figures, Exceptions: c.Exceptions, Findings: []jsonFinding{}}
		if c.Reason != nil {
			jc.Reason = pick(*c.Reason, lang)
		}
		for _, f := range c.Findings {
			jc.Findings = append(jc.Findings, jsonFinding{Kind: f.Kind, Subject: f.Subject, Text: pick(f.Text, lang)})
		}
		out.Clauses = append(out.Clauses, jc)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// CSVHeader is the CSV's first row.
var CSVHeader = []string{"clause", "state", "kind", "evidence", "action", "subject", "outcome", "deadline", "done_at", "lateness_seconds", "cause"}

// WriteCSV writes one row per exception and per finding, in lang.
func WriteCSV(w io.Writer, r *Report, lang string) error {
	if err := CheckLang(lang); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, c := range r.Clauses {
		for _, x := range c.Exceptions {
			cw.Write([]string{c.ID, c.State, "exception", strconv.FormatInt(x.Evidence, 10), x.Action, x.Subject, x.Outcome,
				ts(x.Deadline), ts(x.DoneAt), strconv.FormatInt(x.Lateness, 10), x.Cause})
		}
		for _, f := range c.Findings {
			cw.Write([]string{c.ID, c.State, f.Kind, "", "", f.Subject, "", "", "", "", pick(f.Text, lang)})
		}
	}
	cw.Flush()
	return cw.Error()
}

// ParseDate parses a report's bound, a day (YYYY-MM-DD) meaning its
// midnight in loc, for the parameter name.
func ParseDate(name, v string, loc *time.Location) (time.Time, error) {
	t, err := time.ParseInLocation(time.DateOnly, v, loc)
	if err != nil {
		return time.Time{}, slokeeper.Errorf(slokeeper.EINVALID, "%s=%q is not a date such as 2026-01-01. / %s=%q は 2026-01-01 のような日付ではありません。", name, v, name, v)
	}
	return t, nil
}
