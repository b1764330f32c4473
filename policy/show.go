package policy

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Languages slokeeper speaks.
var Languages = []string{"ja", "en"}

// WriteJSON writes p as indented JSON.
func WriteJSON(w io.Writer, p *Policy) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// WriteText writes every clause of p for a person, in lang ("ja" or "en").
func WriteText(w io.Writer, p *Policy, lang string) error {
	r := &renderer{lang: lang}
	r.render(p)
	_, err := io.WriteString(w, r.b.String())
	return err
}

type renderer struct {
	lang string
	b    strings.Builder
}

// t picks the Japanese or the English of a label.
func (r *renderer) t(ja, en string) string {
	if r.lang == "en" {
		return en
	}
	return ja
}

func (r *renderer) heading(ja, en, clause string) {
	fmt.Fprintf(&r.b, "\n■ %s [%s]\n", r.t(ja, en), clause)
}

func (r *renderer) para(t Text) {
	r.b.WriteString(t.In(r.lang))
	r.b.WriteString("\n")
}

func (r *renderer) item(ja, en string, value string) {
	sep := ": "
	if r.lang == "ja" {
		sep = ":"
	}
	fmt.Fprintf(&r.b, "%s%s%s%s\n", r.t("・", "- "), r.t(ja, en), sep, value)
}

func (r *renderer) list(items []string) string {
	return strings.Join(items, r.t("、", ", "))
}

func (r *renderer) yesNo(v bool, yesJA, yesEN, noJA, noEN string) string {
	if v {
		return r.t(yesJA, yesEN)
	}
	return r.t(noJA, noEN)
}

// Span renders a duration for a person: "1年6か月" or "1 year 6 months".
func Span(d Duration, lang string) string {
	if d.IsZero() {
		if lang == "en" {
			return "none"
		}
		return "なし"
	}
	type part struct {
		n      int64
		ja, en string
	}
	c := d.Clock
	parts := []part{
		{int64(d.Years), "年", "year"},
		{int64(d.Months), "か月", "month"},
		{int64(d.Days), "日", "day"},
		{int64(c / time.Hour), "時間", "hour"},
		{int64(c % time.Hour / time.Minute), "分", "minute"},
		{int64(c % time.Minute / time.Second), "秒", "second"},
	}
	var out []string
	for _, p := range parts {
		switch {
		case p.n == 0:
		case lang == "en" && p.n == 1:
			out = append(out, fmt.Sprintf("1 %s", p.en))
		case lang == "en":
			out = append(out, fmt.Sprintf("%d %ss", p.n, p.en))
		default:
			out = append(out, fmt.Sprintf("%d%s", p.n, p.ja))
		}
	}
	return strings.Join(out, map[bool]string{true: " ", false: ""}[lang == "en"])
}

func (r *renderer) span(d Duration) string { return Span(d, r.lang) }

func (r *renderer) rule(rl *Rule) string {
	if rl == nil {
		return r.t("定めなし", "none")
	}
	if rl.From == FromBackup {
		return r.t("バックアップ作成から"+r.span(rl.After), r.span(rl.After)+" after the backup is created")
	}
	return r.t("生成から"+r.span(rl.After), r.span(rl.After)+" after generation")
}

func (r *renderer) channels(cs []string) string {
	names := map[string][2]string{"site": {"当サイト", "this site"}, "email": {"電子メール", "e-mail"}}
	var out []string
	for _, c := range cs {
		out = append(out, r.t(names[c][0], names[c][1]))
	}
	return r.list(out)
}

func (r *renderer) date(d Date) string {
	if r.lang == "en" {
		return fmt.Sprintf("%s %d, %d", d.Month, d.Day, d.Year)
	}
	return fmt.Sprintf("%d年%d月%d日", d.Year, int(d.Month), d.Day)
}

func (r *renderer) monthDay(md MonthDay) string {
	if r.lang == "en" {
		return fmt.Sprintf("%s %d", md.Month, md.Day)
	}
	return fmt.Sprintf("%d月%d日", int(md.Month), md.Day)
}

func (r *renderer) render(p *Policy) {
	s := &p.Service
	fmt.Fprintf(&r.b, "%s %s", s.Name.In(r.lang), s.Document.In(r.lang))
	fmt.Fprintf(&r.b, r.t("(%s更新)\n", " (updated %s)\n"), r.date(s.Updated))
	var langs []string
	for _, l := range s.Languages {
		langs = append(langs, map[string]string{"ja": r.t("日本語", "Japanese"), "en": r.t("英語", "English")}[l])
	}
	r.item("タイムゾーン", "Time zone", s.TimeZone)
	r.item("公開言語", "Languages", r.list(langs))
	if s.Contact != "" {
		r.item("お問い合わせ先", "Contact", s.Contact)
	}
	r.b.WriteString("\n")
	r.para(s.Text)

	a := &p.Availability
	r.heading("可用性", "Availability", ClauseAvailability)
	r.para(a.Text)
	target := fmt.Sprintf("%g%%", float64(a.Target))
	if a.ExcludeMaintenance {
		target += r.t("(告知済みのメンテナンス時間を除く)", " (announced maintenance excluded)")
	}
	r.item("稼働率の目標", "Uptime objective", target)

	m := &p.Maintenance
	r.heading("メンテナンス", "Maintenance", ClauseMaintenance)
	r.para(m.Text)
	r.item("計画メンテナンスの事前通知", "Notice of planned maintenance", r.t("開始の"+r.span(m.Notice)+"前まで", "at least "+r.span(m.Notice)+" before the start"))
	r.item("通知方法", "Announced on", r.channels(m.Channels))
	if !m.Reminder.IsZero() {
		r.item("リマインダー", "Reminder", r.t("開始の"+r.span(m.Reminder)+"前", r.span(m.Reminder)+" before the start"))
	}
	if m.Emergency.Allowed {
		r.item("緊急メンテナンス", "Emergency maintenance", r.t("決定から"+r.span(m.Emergency.NotifyWithin)+"以内に通知", "announced within "+r.span(m.Emergency.NotifyWithin)+" of being scheduled"))
	} else {
		r.item("緊急メンテナンス", "Emergency maintenance", r.t("行いません", "not allowed"))
	}
	r.para(m.Emergency.Text)
	r.item("アップデート方針", "Updates", m.UpdateText.In(r.lang))

	rd := &p.Redundancy
	r.heading("冗長化", "Redundancy", ClauseRedundancy)
	r.para(rd.Text)
	r.item("稼働ノード数", "Serving nodes", fmt.Sprintf("%d", rd.Nodes))
	r.item("障害と判定する確認ノード数", "Nodes that confirm a failure", fmt.Sprintf("%d", rd.ProbeConfirmations))
	r.item("データベースの同期レプリケーション", "Synchronous database replication", r.yesNo(rd.SynchronousReplication,
		"必須です（スタンバイへの書き込みが確認されてから受け付けます）", "required (a write is acknowledged once a standby has it)",
		"求めません", "not required"))
	r.item("確認ノードが不足する場合", "With fewer nodes to confirm", r.t(map[bool]string{true: "確認できたノードのみで障害を公開します", false: "公開せず、担当者に知らせます"}[rd.OpenOnFewerConfirmations],
		map[bool]string{true: "the failure is published on the nodes that saw it", false: "the failure is held for staff, not published"}[rd.OpenOnFewerConfirmations]))

	in := &p.Incidents
	r.heading("障害時の対応", "Incidents", ClauseIncidents)
	r.para(in.Text)
	r.item("初回通知", "First notice", r.t("検知から"+r.span(in.NotifyWithin)+"以内", "within "+r.span(in.NotifyWithin)+" of detection"))
	r.item("通知方法", "Announced on", r.channels(in.Channels))
	r.item("続報", "Updates", r.t("少なくとも"+r.span(in.UpdateEvery)+"ごと", "at least every "+r.span(in.UpdateEvery)))

	d := &p.Data
	r.heading("データ管理", "Data", "data")
	r.para(d.Text)
	r.item("保持と消去の規則が衝突したとき", "When a keep floor outlasts an erase ceiling", r.yesNo(d.Precedence == "erase", "消去を優先", "erasure wins", "保持を優先", "keeping wins"))

	r.heading("匿名化データの利用", "Anonymized data", ClauseDataUse)
	r.para(d.AnonUse.Text)
	if d.AnonUse.Allowed {
		r.item("匿名性の基準", "Anonymity", fmt.Sprintf("k = %d", d.AnonUse.K))
	} else {
		r.item("利用", "Use", r.t("行いません", "none"))
	}

	for _, nc := range d.Classes() {
		r.class(nc)
	}

	ac := &p.Access
	r.heading("データアクセス", "Data access", ClauseAccess)
	r.para(ac.Text)
	r.item("ロール", "Roles", r.list(ac.Roles))
	r.item("一時アクセス権限の上限", "Longest access grant", r.span(ac.GrantMax))
	r.item("二者承認", "Two-person approval", r.yesNo(ac.TwoPerson, "必要(申請者以外の管理者が承認)", "required (an admin other than the requester approves)", "不要", "not required"))
	r.item("アクセスレビュー", "Access review", r.t(r.span(ac.ReviewEvery)+"ごと", "every "+r.span(ac.ReviewEvery)))

	sc := &p.Security
	r.heading("セキュリティ", "Security", ClauseSecurity)
	r.para(sc.Text)
	r.para(sc.Certification)
	r.item("通信の暗号化(TLS)", "Encryption in transit (TLS)", r.yesNo(sc.TLSRequired, "必須", "required", "任意", "optional"))
	r.item("認証情報の暗号化", "Credentials encrypted at rest", r.yesNo(sc.EncryptCreds, "あり", "yes", "なし", "no"))
	r.item("社内監査", "Internal audit", r.t(r.span(sc.AuditEvery)+"ごと", "every "+r.span(sc.AuditEvery)))
	r.item("監査記録の署名付きチェックポイント", "Signed audit-ledger checkpoints", r.t(r.span(sc.CheckpointEvery)+"ごと", "every "+r.span(sc.CheckpointEvery)))

	r.support(p)
}

func (r *renderer) class(nc NamedClass) {
	c := nc.Class
	r.heading(c.Name.JA, c.Name.EN, nc.Clause)
	r.para(c.Text)
	cadence := r.t("毎日", "daily")
	if c.Backup.Every == Monthly {
		cadence = r.t("月1回", "monthly")
	}
	if !c.Backup.Grace.IsZero() {
		cadence += r.t("(期間の終了から"+r.span(c.Backup.Grace)+"後に完成)", " (completed "+r.span(c.Backup.Grace)+" after the period closes)")
	}
	r.item("バックアップ", "Backup", cadence)
	r.item("元データの消去期限", "Originals erased", r.rule(c.Original.Erase))
	r.item("バックアップの最低保存期間", "Backups kept at least", r.rule(c.Backups.Keep))
	r.item("バックアップの消去期限", "Backups erased", r.rule(c.Backups.Erase))
	r.item("消去の許容遅延", "Erase tolerance", r.span(c.Tolerance))
	if d := c.Drill; d != nil {
		r.item("復元訓練", "Restore drill", r.t(
			fmt.Sprintf("%sごとにバックアップを%d件無作為に選んで復元し、マニフェストと照合して所要時間を記録", r.span(d.Every), d.Sample),
			fmt.Sprintf("every %s, %d backups picked at random are restored, checked against their manifests and timed", r.span(d.Every), d.Sample)))
	} else {
		r.item("復元訓練", "Restore drill", r.t("定めなし", "none"))
	}
	r.item("インターロック", "Interlock", r.yesNo(c.Interlock,
		"有効(検証済みのバックアップがない元データは消去しません)", "on (no original is erased before a verified backup covers it)",
		"無効", "off"))
	if ad := c.OnAccountDeletion; ad != nil && ad.Erase {
		what := r.t("データ", "its data")
		if ad.IncludeBackups {
			what = r.t("バックアップを含むデータ", "its data, backups included,")
		}
		r.item("アカウント削除時", "On account deletion", r.t(
			fmt.Sprintf("取り消し期間%sの後、%sを消去", r.span(ad.CancelWindow), what),
			fmt.Sprintf("%s is erased after a cancel window of %s", what, r.span(ad.CancelWindow))))
		r.para(ad.Text)
	}
}

var weekdays = []struct {
	day    time.Weekday
	ja, en string
}{
	{time.Monday, "月", "Mon"}, {time.Tuesday, "火", "Tue"}, {time.Wednesday, "水", "Wed"},
	{time.Thursday, "木", "Thu"}, {time.Friday, "金", "Fri"}, {time.Saturday, "土", "Sat"}, {time.Sunday, "日", "Sun"},
}

func (r *renderer) support(p *Policy) {
	s := &p.Support
	r.heading("サポート", "Support", ClauseSupport)
	r.para(s.Text)
	var scope []string
	for _, it := range s.Scope {
		scope = append(scope, it.Name.In(r.lang))
	}
	r.item("対象", "Scope", r.list(scope))
	fmt.Fprintf(&r.b, "%s%s\n", r.t("・", "- "), r.t("受付時間("+p.Service.TimeZone+"):", "Hours ("+p.Service.TimeZone+"):"))
	// Group consecutive weekdays with the same hours: "月〜金 10:00〜13:00".
	for i := 0; i < len(weekdays); {
		ivs := s.Hours.Day(weekdays[i].day)
		j := i
		for j+1 < len(weekdays) && slices.Equal(s.Hours.Day(weekdays[j+1].day), ivs) {
			j++
		}
		if len(ivs) > 0 {
			days := r.t(weekdays[i].ja, weekdays[i].en)
			if j > i {
				days += r.t("〜", "–") + r.t(weekdays[j].ja, weekdays[j].en)
			}
			var spans []string
			for _, iv := range ivs {
				spans = append(spans, strings.Replace(iv.String(), "-", r.t("〜", "–"), 1))
			}
			fmt.Fprintf(&r.b, "    %s %s\n", days, r.list(spans))
		}
		i = j + 1
	}
	cl := &s.Closures
	var closed []string
	if cl.Weekends {
		closed = append(closed, r.t("土日", "weekends"))
	}
	if cl.NationalHolidays == "jp" {
		closed = append(closed, r.t("国民の祝日", "Japanese national holidays"))
	}
	if ye := cl.YearEnd; ye != nil {
		closed = append(closed, r.t(
			fmt.Sprintf("年末年始(%s〜%s)", r.monthDay(ye.From), r.monthDay(ye.To)),
			fmt.Sprintf("year-end and new-year holidays (%s–%s)", r.monthDay(ye.From), r.monthDay(ye.To))))
	}
	for _, h := range cl.Company {
		closed = append(closed, fmt.Sprintf("%s(%s)", h.Name.In(r.lang), r.date(h.Date)))
	}
	if len(cl.Company) == 0 {
		closed = append(closed, r.t("会社の定める休日", "company holidays"))
	}
	r.item("休業日", "Closed on", r.list(closed))
	var intake []string
	if s.Intake.Email != "" {
		intake = append(intake, r.t("電子メール ", "e-mail to ")+s.Intake.Email)
	}
	if s.Intake.Form {
		intake = append(intake, r.t("お問い合わせフォーム", "the inquiry form"))
	}
	r.item("お問い合わせ方法", "How to ask", r.list(intake))
	r.item("受付確認の自動返信", "Automatic acknowledgement", r.t(r.span(s.Response.Acknowledge)+"以内", "within "+r.span(s.Response.Acknowledge)))
	r.item("担当者からの初回回答", "First reply from a person", r.t("受付時間内で"+r.span(s.Response.FirstReply)+"以内", "within "+r.span(s.Response.FirstReply)+" of open support time"))
}
