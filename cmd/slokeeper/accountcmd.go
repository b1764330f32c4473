package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"slokeeper"
	"slokeeper/internal/vault"
)

const accountUsage = `Usage:
  slokeeper account create --as OPERATOR --id ID --name NAME
  slokeeper account list
  slokeeper account put ID --as OPERATOR --kind document|data|credential --key KEY (--value V | --file F)
  slokeeper account get ID --as OPERATOR --kind document|data|credential --key KEY   (needs a grant)
  slokeeper account delete ID --as OPERATOR            disable now, erase after the cancel window
  slokeeper account cancel-deletion ID --as OPERATOR
  slokeeper grant request --as OPERATOR --account ID --scope document|data|credential|all --reason WHY --duration 2h
  slokeeper grant approve GRANT --as OPERATOR          an admin, not the requester when the policy wants two people
  slokeeper grant revoke GRANT --as OPERATOR
  slokeeper grant list [--account ID]
  slokeeper access review [--format text|json]        who holds which role and grant, and what each grant was used for

--as names the operator a command acts as; the audit ledger records both
you and them. The same rules as the API apply: reading an account's data
needs an approved, unexpired grant.
`

// cliVault opens what vault commands need, acting as operator --as.
type cliVault struct {
	v     *vault.Vault
	actor vault.Actor
	store *Store
	close func()
}

func openCLIVault(ctx context.Context, cfg Config, as string) (*cliVault, error) {
	store, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	m := &Main{Config: cfg, Store: store, Clock: slokeeper.SystemClock{}}
	if m.Policy, err = loadPolicy(cfg.Policy, discardLogger()); err != nil {
		store.Close()
		return nil, err
	}
	if m.Ledger, err = openLedger(cfg, store, m.Clock); err != nil {
		store.Close()
		return nil, err
	}
	if m.Keys, m.closeKeys, err = openKeys(ctx, cfg); err != nil {
		store.Close()
		return nil, err
	}
	cv := &cliVault{store: store, close: func() { m.closeKeys(); store.Close() }}
	cv.v = vault.New(vault.Config{Accounts: store.Accounts, Grants: store.Grants, Operators: store.Operators, Evidence: store.Evidence,
		Crypto: m.Keys, Audit: m.audit, Policy: m.Policy, Clock: m.Clock, Node: m.node()})
	if as != "" {
		ops, err := store.Operators.FindOperators(ctx, slokeeper.OperatorFilter{Name: as})
		if err != nil || len(ops) == 0 {
			cv.close()
			return nil, fmt.Errorf("no active operator %q to act as", as)
		}
		cv.actor = vault.Actor{Operator: ops[0], Label: cliActor() + " as operator:" + as}
	}
	return cv, nil
}

func runAccount(ctx context.Context, cmd string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, accountUsage)
		return errUsage
	}
	sub, args := cmd+" "+args[0], args[1:]
	fs := flag.NewFlagSet(sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, accountUsage, "\nFlags:\n"); fs.PrintDefaults() }
	cf := newConfigFlags(fs, "data", "db", "master-key", "keys-db", "policy")
	var as, id, name, kind, key, value, file, account, scope, reason, format string
	var duration time.Duration
	var positional string
	needsAs := true
	switch sub {
	case "account create":
		fs.StringVar(&id, "id", "", "account ID")
		fs.StringVar(&name, "name", "", "account name")
	case "account list", "grant list", "access review":
		needsAs = false
		fs.StringVar(&account, "account", "", "only this account")
		fs.StringVar(&format, "format", "text", "text or json")
	case "account put", "account get":
		fs.StringVar(&kind, "kind", "", "document, data or credential")
		fs.StringVar(&key, "key", "", "the item's key")
		fs.StringVar(&value, "value", "", "the value (put)")
		fs.StringVar(&file, "file", "", "read the value from this file (put)")
	case "account delete", "account cancel-deletion", "grant approve", "grant revoke":
	case "grant request":
		fs.StringVar(&account, "account", "", "the account")
		fs.StringVar(&scope, "scope", "all", "document, data, credential or all")
		fs.StringVar(&reason, "reason", "", "why you need the access")
		fs.DurationVar(&duration, "duration", time.Hour, "how long (at most access.grant_max)")
	default:
		fmt.Fprintf(stderr, "slokeeper: unknown command %q\n\n%s", sub, accountUsage)
		return errUsage
	}
	if needsAs {
		fs.StringVar(&as, "as", "", "the operator this command acts as")
	}
	if slices.Contains([]string{"account put", "account get", "account delete", "account cancel-deletion", "grant approve", "grant revoke"}, sub) {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(stderr, "%s: name the account or grant first\n", sub)
			return errUsage
		}
		positional, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if needsAs && as == "" {
		fmt.Fprintf(stderr, "%s: --as OPERATOR is needed\n", sub)
		return errUsage
	}
	cfg, err := cf.load(getenv)
	if err != nil {
		return err
	}
	cv, err := openCLIVault(ctx, cfg, as)
	if err != nil {
		return err
	}
	defer cv.close()
	v, by := cv.v, cv.actor
	show := func(label string, x any, err error) error {
		if err != nil {
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
		b, _ := json.MarshalIndent(x, "", "  ")
		fmt.Fprintf(stdout, "%s\n%s\n", label, b)
		return nil
	}
	switch sub {
	case "account create":
		a, err := v.CreateAccount(ctx, by, id, name)
		return show("account created:", a, err)
	case "account put":
		data := []byte(value)
		if file != "" {
			if data, err = os.ReadFile(file); err != nil {
				return err
			}
		}
		it, err := v.PutItem(ctx, by, positional, kind, key, data)
		return show("stored:", it, err)
	case "account get":
		pt, _, err := v.GetItem(ctx, by, positional, kind, key)
		if err != nil {
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
		stdout.Write(pt)
		return nil
	case "account delete":
		a, err := v.RequestDeletion(ctx, by, positional)
		return show("deletion requested (cancellable until deletion_due_at):", a, err)
	case "account cancel-deletion":
		a, err := v.CancelDeletion(ctx, by, positional)
		return show("deletion cancelled:", a, err)
	case "grant request":
		g, err := v.RequestGrant(ctx, by, account, scope, reason, duration)
		return show("grant requested:", g, err)
	case "grant approve":
		g, err := v.ApproveGrant(ctx, by, positional)
		return show("grant approved:", g, err)
	case "grant revoke":
		if err := v.RevokeGrant(ctx, by, positional); err != nil {
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "revoked %s\n", positional)
		return nil
	case "account list":
		as, err := cv.store.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{ID: account})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tCREATED\tDELETION DUE")
		for _, a := range as {
			due := ""
			if !a.DeletionDueAt.IsZero() {
				due = a.DeletionDueAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.ID, termSafe(a.Name), a.Status, a.CreatedAt.Format(time.RFC3339), due)
		}
		return tw.Flush()
	case "grant list":
		gs, err := cv.store.Grants.FindGrants(ctx, slokeeper.GrantFilter{Account: account})
		if err != nil {
			return err
		}
		return writeGrants(stdout, gs, nil, time.Now())
	}
	return accessReview(ctx, cv, format, stdout)
}

func grantState(g *slokeeper.Grant, now time.Time) string {
	switch {
	case !g.RevokedAt.IsZero():
		return "revoked"
	case g.ApprovedAt.IsZero():
		return "pending"
	case g.Active(now):
		return "active"
	}
	return "expired"
}

func writeGrants(w io.Writer, gs []*slokeeper.Grant, uses map[string]int, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GRANT\tOPERATOR\tACCOUNT\tSCOPE\tSTATE\tAPPROVER\tEXPIRES\tREADS\tREASON")
	for _, g := range gs {
		exp := ""
		if !g.ExpiresAt.IsZero() {
			exp = g.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", g.ID, g.OperatorID, g.Account, g.Scope, grantState(g, now), g.ApproverID, exp, uses[g.ID], termSafe(g.Reason))
	}
	return tw.Flush()
}

// accessReview lists every operator with their role, and every grant with
// its state and how many reads it was used for, from the audit ledger.
func accessReview(ctx context.Context, cv *cliVault, format string, w io.Writer) error {
	ops, err := cv.store.Operators.FindOperators(ctx, slokeeper.OperatorFilter{IncludeDisabled: true})
	if err != nil {
		return err
	}
	gs, err := cv.store.Grants.FindGrants(ctx, slokeeper.GrantFilter{})
	if err != nil {
		return err
	}
	uses := map[string]int{}
	err = cv.store.Audit.EachAuditEntry(ctx, 1, 0, func(e *slokeeper.AuditEntry) error {
		if e.Action == "data.read" || e.Action == "data.list" {
			if i := strings.LastIndex(e.Detail, "under grant "); i >= 0 {
				uses[e.Detail[i+len("under grant "):]]++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	now := time.Now()
	if format == "json" {
		type grantUse struct {
			*slokeeper.Grant
			State string `json:"state"`
			Reads int    `json:"reads"`
		}
		var out []grantUse
		for _, g := range gs {
			out = append(out, grantUse{g, grantState(g, now), uses[g.ID]})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"reviewed_at": now, "operators": ops, "grants": out})
	}
	fmt.Fprintf(w, "Access review, %s\n\nOperators\n", now.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tTWO-FACTOR\tSTATE")
	for _, o := range ops {
		state := "active"
		if !o.DisabledAt.IsZero() {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", termSafe(o.Name), o.Role, o.TOTPSecret != nil, state)
	}
	tw.Flush()
	fmt.Fprint(w, "\nGrants\n")
	return writeGrants(w, gs, uses, now)
}
