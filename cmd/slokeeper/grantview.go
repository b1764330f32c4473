package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"slokeeper"
	"slokeeper/policy"
)

// grantNames resolves the operator and account IDs in grants to the names
// people know them by.
type grantNames struct {
	operators map[string]string // operator ID → name
	accounts  map[string]string // account ID → name
}

func loadGrantNames(ctx context.Context, store *Store) (grantNames, error) {
	n := grantNames{operators: map[string]string{}, accounts: map[string]string{}}
	ops, err := store.Operators.FindOperators(ctx, slokeeper.OperatorFilter{IncludeDisabled: true})
	if err != nil {
		return n, err
	}
	for _, o := range ops {
		n.operators[o.ID] = o.Name
	}
	as, err := store.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{})
	if err != nil {
		return n, err
	}
	for _, a := range as {
		n.accounts[a.ID] = a.Name
	}
	return n, nil
}

// operator returns an operator's name, or the ID when it is not known.
func (n grantNames) operator(id string) string {
	if name, ok := n.operators[id]; ok {
		return termSafe(name)
	}
	return id
}

// account returns "Name (ID)", or the ID alone when the name is not known.
func (n grantNames) account(id, lang string) string {
	name, ok := n.accounts[id]
	if !ok {
		return id
	}
	if lang == "en" {
		return termSafe(name) + " (" + id + ")"
	}
	return termSafe(name) + "（" + id + "）"
}

// grantSpan renders a grant's duration for a person: 「2時間30分」 or "2h30m".
func grantSpan(d time.Duration, lang string) string {
	if lang != "en" {
		return policy.Span(policy.Duration{Clock: d.Round(time.Second)}, "ja")
	}
	d = d.Round(time.Second)
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.unit
		}
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}

// grantStateText names a grant's state in lang.
func grantStateText(state, lang string) string {
	if lang == "en" {
		return state
	}
	return map[string]string{"revoked": "取り消し済み", "pending": "承認待ち", "active": "有効", "expired": "期限切れ"}[state]
}

// writeGrant writes one grant as a person reads it: names, not IDs, and
// its duration in hours and minutes. The first line ends with the grant's
// ID, which approve and revoke take.
func writeGrant(w io.Writer, labelJA, labelEN string, g *slokeeper.Grant, n grantNames, lang string, now time.Time) {
	t := func(ja, en string) string {
		if lang == "en" {
			return en
		}
		return ja
	}
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "%s: %s\n", t(labelJA, labelEN), g.ID)
	fmt.Fprintf(tw, "  %s\t%s\n", t("申請者:", "operator:"), n.operator(g.OperatorID))
	fmt.Fprintf(tw, "  %s\t%s\n", t("アカウント:", "account:"), n.account(g.Account, lang))
	fmt.Fprintf(tw, "  %s\t%s\n", t("範囲:", "scope:"), g.Scope)
	fmt.Fprintf(tw, "  %s\t%s\n", t("期間:", "duration:"), grantSpan(g.Duration, lang))
	fmt.Fprintf(tw, "  %s\t%s\n", t("状態:", "state:"), grantStateText(grantState(g, now), lang))
	if g.ApproverID != "" {
		fmt.Fprintf(tw, "  %s\t%s\n", t("承認者:", "approver:"), n.operator(g.ApproverID))
	}
	if !g.ExpiresAt.IsZero() {
		fmt.Fprintf(tw, "  %s\t%s\n", t("期限:", "expires:"), g.ExpiresAt.Format(time.RFC3339))
	}
	fmt.Fprintf(tw, "  %s\t%s\n", t("理由:", "reason:"), termSafe(g.Reason))
	tw.Flush()
}
