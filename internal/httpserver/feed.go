package httpserver

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"net/http"
	"slices"
	"strconv"
	"time"

	"slokeeper"
	"slokeeper/maintenance"
)

// The Atom feed (RFC 4287) of incident updates and maintenance notices,
// in the reader's language: the site's own notification channel, for feed
// readers and chat integrations.

type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Lang    string      `xml:"xml:lang,attr"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Link    []atomLink  `xml:"link"`
	Author  atomPerson  `xml:"author"`
	Entries []atomEntry `xml:"entry"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomPerson struct {
	Name string `xml:"name"`
}

type atomEntry struct {
	ID      string   `xml:"id"`
	Title   string   `xml:"title"`
	Updated string   `xml:"updated"`
	Link    atomLink `xml:"link"`
	Content atomText `xml:"content"`
}

type atomText struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

// handleFeed serves /feed.atom: every incident update and maintenance
// window of the last 90 days, newest first.
func (s *Server) handleFeed(w http.ResponseWriter, r *http.Request) {
	l := lang(r)
	pg := page{Lang: l}
	ctx, now := r.Context(), s.Clock.Now()
	base := "https://" + r.Host
	if r.TLS == nil {
		base = "http://" + r.Host
	}
	feed := atomFeed{Lang: l, ID: base + "/feed.atom?lang=" + l, Title: s.Policy.Service.Name.In(l) + " " + pg.T("稼働状況", "Status"),
		Link:   []atomLink{{Rel: "self", Href: base + "/feed.atom?lang=" + l}, {Rel: "alternate", Href: base + "/?lang=" + l}},
		Author: atomPerson{Name: s.Policy.Service.Name.In(l)}}
	type dated struct {
		at  time.Time
		seq int64 // among equal times, the higher the newer
		e   atomEntry
	}
	var entries []dated
	incs, err := s.Incidents.FindIncidents(ctx, slokeeper.IncidentFilter{Since: now.Add(-slokeeper.History)})
	if err != nil {
		s.serveStaleFeed(w, r, l, err)
		return
	}
	for _, inc := range incs {
		for _, u := range inc.Updates {
			entries = append(entries, dated{u.At, u.ID, atomEntry{ID: base + "/incidents/" + inc.ID + "#" + strconv.FormatInt(u.ID, 10),
				Title:   pg.T("【障害】", "[Incident] ") + pg.T(inc.TitleJA, inc.TitleEN) + " — " + pg.Label(u.Status),
				Updated: u.At.UTC().Format(time.RFC3339), Link: atomLink{Href: base + "/incidents/" + inc.ID + "?lang=" + l},
				Content: atomText{Type: "text", Body: pg.T(u.BodyJA, u.BodyEN)}}})
		}
	}
	ms, err := s.Schedule.Recent(ctx)
	if err != nil {
		s.serveStaleFeed(w, r, l, err)
		return
	}
	loc := s.Policy.Location()
	for _, m := range ms {
		body := pg.T(m.BodyJA, m.BodyEN)
		when := maintenance.JST(m.Start, loc, l) + " – " + maintenance.JST(m.End, loc, l)
		entries = append(entries, dated{m.CreatedAt, 0, atomEntry{ID: base + "/maintenances/" + m.ID,
			Title:   pg.T("【メンテナンスのお知らせ】", "[Maintenance] ") + pg.T(m.TitleJA, m.TitleEN) + " (" + when + ")",
			Updated: m.CreatedAt.UTC().Format(time.RFC3339), Link: atomLink{Href: base + "/maintenance/" + m.ID + "?lang=" + l},
			Content: atomText{Type: "text", Body: when + "\n" + body}}})
	}
	slices.SortStableFunc(entries, func(a, b dated) int { return cmp.Or(b.at.Compare(a.at), cmp.Compare(b.seq, a.seq)) })
	feed.Updated = now.UTC().Format(time.RFC3339)
	if len(entries) > 0 {
		feed.Updated = entries[0].at.UTC().Format(time.RFC3339)
	}
	for _, e := range entries {
		feed.Entries = append(feed.Entries, e.e)
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(feed); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	s.lastGood.keepFeed(l, buf.Bytes(), now)
	writeFeed(w, l, buf.Bytes())
}

func writeFeed(w http.ResponseWriter, l string, body []byte) {
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Header().Set("Content-Language", l)
	w.Header().Add("Vary", "Accept-Language")
	w.Write(body)
}

// serveStaleFeed answers the feed with its last good rendering after err
// (its entries are what was announced; nothing in it is out of date but
// what may have been added since), or a 503 when there is none.
func (s *Server) serveStaleFeed(w http.ResponseWriter, r *http.Request, l string, err error) {
	good, ok := s.lastGood.feed(l)
	if !ok {
		s.Logger.Warn("feed: the database is away and nothing was rendered yet", "err", err)
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EUNAVAILABLE, "The feed cannot be shown: the database cannot be reached."))
		return
	}
	s.Logger.Warn("feed: the database is away; serving the last good feed", "err", err)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Slokeeper-Stale", good.at.UTC().Format(time.RFC3339))
	writeFeed(w, l, good.body)
}
