package httpserver

import (
	"strings"

	"slokeeper"
)

// incidentTemplate is one of the usual texts staff start an incident
// update or a postmortem from, in both languages side by side. In the
// text, {components} is the affected components' names (or the service
// as a whole), {detected} and {resolved} the incident's times.
type incidentTemplate struct {
	Key    string
	Status string // the status an update from it sets; "" for the postmortem
	JA, EN string
}

// incidentTemplates are the usual texts, in the order the console offers
// them. The Japanese follows Japanese status pages: polite, the facts
// first, the apology after.
var incidentTemplates = []incidentTemplate{
	{Key: slokeeper.IncidentInvestigating, Status: slokeeper.IncidentInvestigating,
		JA: "現在、{components}において障害が発生しております。原因を調査しており、詳細が分かり次第お知らせいたします。\nご迷惑をおかけしており、誠に申し訳ございません。",
		EN: "We are investigating a problem affecting {components}. We will post an update as soon as we know more.\nWe apologise for the inconvenience."},
	{Key: slokeeper.IncidentIdentified, Status: slokeeper.IncidentIdentified,
		JA: "{components}において発生している障害の原因を特定いたしました。現在、復旧に向けた対応を進めております。\nご迷惑をおかけしており、誠に申し訳ございません。",
		EN: "We have identified the cause of the problem affecting {components} and are working on a fix.\nWe apologise for the inconvenience."},
	{Key: slokeeper.IncidentMonitoring, Status: slokeeper.IncidentMonitoring,
		JA: "{components}について復旧のための対応を実施いたしました。現在、正常に動作していることを確認するため、経過を観察しております。",
		EN: "A fix has been applied to {components}. We are monitoring to make sure it works as expected."},
	{Key: slokeeper.IncidentResolved, Status: slokeeper.IncidentResolved,
		JA: "{components}において発生していた障害は復旧いたしました。\nご利用の皆様には多大なご迷惑をおかけいたしましたことを、深くお詫び申し上げます。",
		EN: "The problem affecting {components} has been resolved.\nWe sincerely apologise for the inconvenience this caused."},
	{Key: "postmortem",
		JA: "■ 発生日時\n{detected} 〜 {resolved}\n\n■ 影響範囲\n{components}\n\n■ 発生事象\n(お客様から見えた事象をご記入ください)\n\n■ 原因\n(原因をご記入ください)\n\n" +
			"■ 対応内容\n(実施した対応をご記入ください)\n\n■ 再発防止策\n(今後の対策をご記入ください)\n\nこのたびはご迷惑をおかけいたしましたことを、深くお詫び申し上げます。",
		EN: "Duration\n{detected} – {resolved}\n\nImpact\n{components}\n\nWhat happened\n(what customers saw)\n\nCause\n(the cause)\n\n" +
			"Resolution\n(what was done)\n\nPrevention\n(what will keep it from happening again)\n\nWe apologise for the inconvenience this caused."},
}

// findIncidentTemplate returns the template with key, or false.
func findIncidentTemplate(key string) (incidentTemplate, bool) {
	for _, t := range incidentTemplates {
		if t.Key == key {
			return t, true
		}
	}
	return incidentTemplate{}, false
}

// fill returns the template's texts for an incident: components are the
// affected components' names in each language (none: the service as a
// whole), detected and resolved its times as each language writes them.
func (t incidentTemplate) fill(componentsJA, componentsEN []string, detectedJA, detectedEN, resolvedJA, resolvedEN string) (ja, en string) {
	cja, cen := strings.Join(componentsJA, "、"), strings.Join(componentsEN, ", ")
	if cja == "" {
		cja = "本サービス"
	}
	if cen == "" {
		cen = "the service"
	}
	ja = strings.NewReplacer("{components}", cja, "{detected}", detectedJA, "{resolved}", resolvedJA).Replace(t.JA)
	en = strings.NewReplacer("{components}", cen, "{detected}", detectedEN, "{resolved}", resolvedEN).Replace(t.EN)
	return ja, en
}
