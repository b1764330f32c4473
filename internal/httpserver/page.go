package httpserver

import (
	"bytes"
	"net/http"
	"strings"
)

// lang picks the page language: ?lang= first, then Accept-Language, then
// Japanese, the language most readers of a Japanese service use.
func lang(r *http.Request) string {
	switch r.URL.Query().Get("lang") {
	case "ja":
		return "ja"
	case "en":
		return "en"
	}
	for part := range strings.SplitSeq(r.Header.Get("Accept-Language"), ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch strings.ToLower(strings.SplitN(tag, "-", 2)[0]) {
		case "ja":
			return "ja"
		case "en":
			return "en"
		}
	}
	return "ja"
}

// page is what every page template gets: the language and T to pick a
// label's Japanese or English.
type page struct {
	Lang string
}

// T returns ja or en by the page's language.
func (p page) T(ja, en string) string {
	if p.Lang == "en" {
		return en
	}
	return ja
}

type indexPage struct {
	page
	Name, Document, Intro, Version string
}

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	l := lang(r)
	svc := s.Policy.Service
	s.render(w, r, "index.html", l, indexPage{
		page: page{Lang: l}, Name: svc.Name.In(l), Document: svc.Document.In(l), Intro: svc.Text.In(l), Version: s.Version,
	})
}

// render executes a page into a buffer first, so a template error becomes
// a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name, lang string, data any) {
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, data); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", lang)
	w.Header().Add("Vary", "Accept-Language")
	buf.WriteTo(w)
}
