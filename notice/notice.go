// Package notice writes the notices subscribers get, in Japanese and in
// English: incidents, maintenance windows and the subscription's own
// messages. It is pure: the notifier hands it what happened and sends
// what it returns.
package notice

import (
	"fmt"
	"strings"
	"time"

	"slokeeper"
	"slokeeper/maintenance"
)

// Message is a notice in one language, as plain text.
type Message struct {
	Lang    string `json:"-"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

// Event is an announcement with what it is about.
type Event struct {
	Announcement *slokeeper.Announcement
	Incident     *slokeeper.Incident    // with its updates, for incident announcements
	Maintenance  *slokeeper.Maintenance // for maintenance announcements
	// ComponentName names a component in a language ("" if unknown).
	ComponentName func(id, lang string) string
	Service       string // the service's name in the notice's language
	Site          string // the status page's URL
	Loc           *time.Location
}

// labels are the names of states and impacts.
var labels = map[string][2]string{
	slokeeper.IncidentInvestigating: {"調査中", "Investigating"},
	slokeeper.IncidentIdentified:    {"原因特定", "Identified"},
	slokeeper.IncidentMonitoring:    {"経過観察中", "Monitoring"},
	slokeeper.IncidentResolved:      {"解決済み", "Resolved"},
	slokeeper.ImpactMinor:           {"軽微", "Minor"},
	slokeeper.ImpactMajor:           {"重大", "Major"},
	slokeeper.ImpactCritical:        {"深刻", "Critical"},
}

// Label names an incident status or impact in lang.
func Label(key, lang string) string {
	l, ok := labels[key]
	if !ok {
		return key
	}
	return pick(lang, l[0], l[1])
}

func pick(lang, ja, en string) string {
	if lang == "en" {
		return en
	}
	return ja
}

// Render writes e's notice in lang.
func Render(e Event, lang string) Message {
	w := &writer{e: e, lang: lang}
	a := e.Announcement
	if e.Incident != nil {
		w.incident()
	} else if e.Maintenance != nil {
		w.maintenance()
	} else {
		w.subject = a.Kind
	}
	return Message{Lang: lang, Subject: w.subject, Body: w.b.String()}
}

type writer struct {
	e       Event
	lang    string
	subject string
	b       strings.Builder
}

func (w *writer) t(ja, en string) string { return pick(w.lang, ja, en) }

func (w *writer) line(ja, en string) { w.b.WriteString(w.t(ja, en) + "\n") }

// field writes "■ name: value" (ja) or "name: value" (en).
func (w *writer) field(ja, en, value string) {
	if value == "" {
		return
	}
	if w.lang == "en" {
		fmt.Fprintf(&w.b, "%s: %s\n", en, value)
		return
	}
	fmt.Fprintf(&w.b, "■ %s：%s\n", ja, value)
}

func (w *writer) when(t time.Time) string { return maintenance.JST(t, w.e.Loc, w.lang) }

func (w *writer) components(ids []string) string {
	if len(ids) == 0 {
		return w.t("すべてのサービス", "All services")
	}
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		n := ""
		if w.e.ComponentName != nil {
			n = w.e.ComponentName(id, w.lang)
		}
		if n == "" {
			n = id
		}
		names = append(names, n)
	}
	return strings.Join(names, w.t("、", ", "))
}

func (w *writer) greeting() {
	w.line("いつも"+w.e.Service+"をご利用いただき、誠にありがとうございます。", "Thank you for using "+w.e.Service+".")
	w.b.WriteString("\n")
}

// closing points to the status page and, when path is set, to the
// incident's or window's own page there (its permalink).
func (w *writer) closing(path string) {
	w.b.WriteString("\n")
	w.line("最新の情報は次のページでご確認いただけます。", "The latest information is on our status page:")
	w.b.WriteString(w.e.Site + "\n")
	if path != "" && !strings.HasSuffix(path, "/") && w.e.Site != "" {
		w.b.WriteString(strings.TrimSuffix(w.e.Site, "/") + path + "?lang=" + w.lang + "\n")
	}
}

func (w *writer) incident() {
	inc, a := w.e.Incident, w.e.Announcement
	title := w.t(inc.TitleJA, inc.TitleEN)
	var u *slokeeper.IncidentUpdate
	for i := range inc.Updates {
		if inc.Updates[i].ID == a.Update {
			u = &inc.Updates[i]
		}
	}
	w.greeting()
	switch a.Kind {
	case slokeeper.AnnounceIncidentOpened:
		w.subject = w.t("【障害のお知らせ】", "[Incident] ") + title
		w.line("下記の障害が発生しております。ご迷惑をおかけしており、誠に申し訳ございません。",
			"We are experiencing the incident below. We apologize for the inconvenience.")
	case slokeeper.AnnounceIncidentResolved:
		w.subject = w.t("【復旧】", "[Resolved] ") + title
		w.line("下記の障害は復旧いたしました。ご迷惑をおかけしましたことを深くお詫び申し上げます。",
			"The incident below has been resolved. We apologize for the inconvenience it caused.")
	default:
		w.subject = w.t("【障害のお知らせ(続報)】", "[Incident update] ") + title
		w.line("下記の障害について、続報をお知らせいたします。", "Here is an update on the incident below.")
	}
	w.b.WriteString("\n")
	w.field("件名", "Incident", title)
	if u != nil {
		w.field("状況", "Status", Label(u.Status, w.lang))
	}
	w.field("発生日時", "Began", w.when(inc.DetectedAt))
	if a.Kind == slokeeper.AnnounceIncidentResolved {
		w.field("復旧日時", "Resolved", w.when(a.At))
	}
	w.field("影響範囲", "Affected", w.components(inc.Components))
	w.field("影響度", "Impact", Label(inc.Impact, w.lang))
	if u != nil {
		w.field("詳細", "Details", w.t(u.BodyJA, u.BodyEN))
	}
	w.closing("/incidents/" + inc.ID)
}

func (w *writer) maintenance() {
	m, a := w.e.Maintenance, w.e.Announcement
	title := w.t(m.TitleJA, m.TitleEN)
	start, end := a.Start, a.End
	if start.IsZero() {
		start, end = m.Start, m.End
	}
	kindJA, kindEN := "メンテナンス", "maintenance"
	if m.Emergency {
		kindJA, kindEN = "緊急メンテナンス", "emergency maintenance"
	}
	upper := strings.ToUpper(kindEN[:1]) + kindEN[1:]
	w.greeting()
	switch a.Kind {
	case slokeeper.AnnounceMaintenanceScheduled:
		w.subject = w.t("【"+kindJA+"のお知らせ】", "["+upper+"] ") + title
		w.line("下記の日程で"+kindJA+"を実施いたします。ご不便をおかけしますが、ご理解とご協力をお願い申し上げます。",
			"We will carry out the "+kindEN+" below. We apologize for the inconvenience and thank you for your understanding.")
	case slokeeper.AnnounceMaintenanceRescheduled:
		w.subject = w.t("【"+kindJA+"日程変更のお知らせ】", "["+upper+" rescheduled] ") + title
		w.line("先にお知らせした"+kindJA+"の日程を、下記のとおり変更いたします。", "The "+kindEN+" we announced has been moved to the time below.")
	case slokeeper.AnnounceMaintenanceCancelled:
		w.subject = w.t("【"+kindJA+"中止のお知らせ】", "["+upper+" cancelled] ") + title
		w.line("先にお知らせした下記の"+kindJA+"は、中止となりました。サービスは通常どおりご利用いただけます。",
			"The "+kindEN+" below will not take place. The service stays available as usual.")
	case slokeeper.AnnounceMaintenanceReminder:
		w.subject = w.t("【リマインド】"+kindJA+"のお知らせ：", "[Reminder] "+upper+": ") + title
		w.line("先にお知らせした下記の"+kindJA+"の開始が近づいております。あらためてお知らせいたします。",
			"This is a reminder of the "+kindEN+" below, which starts soon.")
	case slokeeper.AnnounceMaintenanceStarted:
		w.subject = w.t("【"+kindJA+"開始のお知らせ】", "["+upper+" started] ") + title
		w.line("下記の"+kindJA+"を開始いたしました。終了まで、対象のサービスをご利用いただけない場合があります。",
			"The "+kindEN+" below has started. Until it ends, the services it affects may be unavailable.")
	case slokeeper.AnnounceMaintenanceCompleted:
		w.subject = w.t("【"+kindJA+"終了のお知らせ】", "["+upper+" completed] ") + title
		w.line("下記の"+kindJA+"は終了いたしました。ご協力いただき、ありがとうございました。",
			"The "+kindEN+" below has ended. Thank you for your patience.")
	}
	w.b.WriteString("\n")
	w.field("件名", "Maintenance", title)
	w.field("日時", "When", w.when(start)+w.t(" 〜 ", " to ")+w.when(end))
	w.field("対象", "Affected", w.components(m.Components))
	w.field("内容", "Details", w.t(m.BodyJA, m.BodyEN))
	if m.Emergency {
		w.field("緊急実施の理由", "Why at short notice", m.Reason)
	}
	w.closing("/maintenance/" + m.ID)
}

// Confirm is the message asking an e-mail subscriber to confirm.
func Confirm(service, site, link, lang string) Message {
	w := &writer{lang: lang}
	w.subject = w.t("【"+service+"】稼働状況のお知らせの登録確認", "Confirm your subscription to "+service+" status notices")
	w.line(service+"の稼働状況のお知らせ(障害・メンテナンス)の配信登録を受け付けました。",
		"We received a request to send "+service+" status notices (incidents and maintenance) to this address.")
	w.line("次のリンクを開き、登録を完了してください。", "Open this link to confirm it:")
	w.b.WriteString("\n" + link + "\n\n")
	w.line("お心当たりのない場合は、このメールを破棄してください。登録は完了しません。",
		"If you did not ask for this, ignore this message: nothing will be sent.")
	w.b.WriteString("\n" + site + "\n")
	return Message{Lang: lang, Subject: w.subject, Body: w.b.String()}
}

// Footer ends every notice by e-mail: why the reader gets it, and the
// link that ends it.
func Footer(service, site, unsubscribe, lang string) string {
	return pick(lang,
		"--\nこのメールは、"+service+"の稼働状況のお知らせに登録された方へお送りしています。\n配信の停止: "+unsubscribe+"\n",
		"--\nYou receive this because you subscribed to "+service+" status notices at "+site+".\nUnsubscribe: "+unsubscribe+"\n")
}
