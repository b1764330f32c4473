package notice_test

import (
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/notice"
)

var tokyo, _ = time.LoadLocation("Asia/Tokyo")

func names(id, lang string) string {
	if id == "runtime" {
		if lang == "en" {
			return "Cloud runtime"
		}
		return "クラウド実行環境"
	}
	return ""
}

func TestRenderMaintenance(t *testing.T) {
	start := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC) // 10:00 JST, a Thursday
	m := &slokeeper.Maintenance{ID: "mt_1", Components: []string{"runtime", "editor"}, TitleJA: "データベースの更新", TitleEN: "Database upgrade",
		BodyJA: "データベースを更新します。", BodyEN: "We upgrade the database.", Start: start, End: start.Add(2 * time.Hour)}
	moved := start.Add(24 * time.Hour)
	for _, tc := range []struct {
		kind      string
		emergency bool
		start     time.Time
		ja, en    []string
	}{
		{slokeeper.AnnounceMaintenanceScheduled, false, start,
			[]string{"【メンテナンスのお知らせ】データベースの更新", "■ 日時：2026年12月3日(木) 10:00 JST 〜 2026年12月3日(木) 12:00 JST", "■ 対象：クラウド実行環境、editor", "■ 内容：データベースを更新します。", "ご理解とご協力をお願い申し上げます。"},
			[]string{"[Maintenance] Database upgrade", "When: Thu 3 Dec 2026 10:00 JST to Thu 3 Dec 2026 12:00 JST", "Affected: Cloud runtime, editor"}},
		{slokeeper.AnnounceMaintenanceScheduled, true, start,
			[]string{"【緊急メンテナンスのお知らせ】", "■ 緊急実施の理由：脆弱性の修正"},
			[]string{"[Emergency maintenance] Database upgrade", "Why at short notice: 脆弱性の修正"}},
		{slokeeper.AnnounceMaintenanceRescheduled, false, moved,
			[]string{"【メンテナンス日程変更のお知らせ】", "2026年12月4日(金) 10:00 JST 〜"},
			[]string{"[Maintenance rescheduled]", "Fri 4 Dec 2026 10:00 JST"}},
		{slokeeper.AnnounceMaintenanceCancelled, false, start, []string{"【メンテナンス中止のお知らせ】", "中止となりました"}, []string{"[Maintenance cancelled]"}},
		{slokeeper.AnnounceMaintenanceReminder, false, start, []string{"【リマインド】メンテナンスのお知らせ：データベースの更新"}, []string{"[Reminder] Maintenance: Database upgrade"}},
		{slokeeper.AnnounceMaintenanceStarted, false, start, []string{"【メンテナンス開始のお知らせ】"}, []string{"[Maintenance started]"}},
		{slokeeper.AnnounceMaintenanceCompleted, false, start, []string{"【メンテナンス終了のお知らせ】"}, []string{"[Maintenance completed]"}},
	} {
		mm := *m
		mm.Emergency = tc.emergency
		if tc.emergency {
			mm.Reason = "脆弱性の修正"
		}
		a := mm.Announcement(tc.kind, start)
		a.Start, a.End = tc.start, tc.start.Add(2*time.Hour)
		e := notice.Event{Announcement: a, Maintenance: &mm, ComponentName: names, Service: "enebular", Site: "https://status.example.jp/", Loc: tokyo}
		for lang, want := range map[string][]string{"ja": tc.ja, "en": tc.en} {
			msg := notice.Render(e, lang)
			text := msg.Subject + "\n" + msg.Body
			for _, w := range want {
				if !strings.Contains(text, w) {
					t.Errorf("%s %s (emergency %v) lacks %q:\n%s", tc.kind, lang, tc.emergency, w, text)
				}
			}
			if !strings.Contains(msg.Body, "https://status.example.jp/") {
				t.Errorf("%s %s: no link to the status page", tc.kind, lang)
			}
			if lang == "en" && strings.ContainsAny(msg.Subject+msg.Body, "。、■") && !tc.emergency {
				t.Errorf("%s en has Japanese punctuation:\n%s", tc.kind, text)
			}
		}
	}
}

func TestRenderIncident(t *testing.T) {
	at := time.Date(2026, 12, 3, 1, 0, 10, 0, time.UTC)
	inc := &slokeeper.Incident{ID: "in_1", Components: []string{"runtime"}, TitleJA: "クラウド実行環境の障害", TitleEN: "Cloud runtime outage",
		Impact: slokeeper.ImpactMajor, DetectedAt: at, Updates: []slokeeper.IncidentUpdate{
			{ID: 7, At: at, Status: slokeeper.IncidentInvestigating, BodyJA: "調査しています。", BodyEN: "We are investigating."},
			{ID: 9, At: at.Add(time.Hour), Status: slokeeper.IncidentResolved, BodyJA: "復旧しました。", BodyEN: "It works again."},
		}}
	e := notice.Event{Incident: inc, ComponentName: names, Service: "enebular", Site: "https://status.example.jp/", Loc: tokyo}
	e.Announcement = inc.Updates[0].Announcement(inc.Components, true)
	ja := notice.Render(e, "ja")
	if ja.Subject != "【障害のお知らせ】クラウド実行環境の障害" || !strings.Contains(ja.Body, "■ 状況：調査中") || !strings.Contains(ja.Body, "■ 発生日時：2026年12月3日(木) 10:00 JST") ||
		!strings.Contains(ja.Body, "■ 詳細：調査しています。") || !strings.Contains(ja.Body, "■ 影響度：重大") || !strings.Contains(ja.Body, "ご迷惑をおかけしており") {
		t.Errorf("opened, ja:\n%s\n%s", ja.Subject, ja.Body)
	}
	e.Announcement = inc.Updates[1].Announcement(inc.Components, false)
	en := notice.Render(e, "en")
	if en.Subject != "[Resolved] Cloud runtime outage" || !strings.Contains(en.Body, "Resolved: Thu 3 Dec 2026 11:00 JST") || !strings.Contains(en.Body, "Details: It works again.") ||
		!strings.Contains(en.Body, "Affected: Cloud runtime") {
		t.Errorf("resolved, en:\n%s\n%s", en.Subject, en.Body)
	}
	if ja := notice.Render(e, "ja"); ja.Subject != "【復旧】クラウド実行環境の障害" || !strings.Contains(ja.Body, "■ 復旧日時：2026年12月3日(木) 11:00 JST") ||
		!strings.Contains(ja.Body, "\nhttps://status.example.jp/incidents/in_1?lang=ja\n") {
		t.Errorf("resolved, ja:\n%s\n%s", ja.Subject, ja.Body)
	}
}

func TestConfirmAndFooter(t *testing.T) {
	c := notice.Confirm("enebular", "https://status.example.jp/", "https://status.example.jp/subscribe/confirm?s=x&t=y", "ja")
	if !strings.Contains(c.Subject, "登録確認") || !strings.Contains(c.Body, "https://status.example.jp/subscribe/confirm?s=x&t=y") {
		t.Errorf("confirm, ja: %s\n%s", c.Subject, c.Body)
	}
	if f := notice.Footer("enebular", "https://status.example.jp/", "https://u", "en"); !strings.Contains(f, "Unsubscribe: https://u") {
		t.Errorf("footer = %s", f)
	}
}
