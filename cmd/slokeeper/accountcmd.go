package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"slokeeper"
	"slokeeper/internal/vault"
)

const accountUsage = `Usage:
  slokeeper account create --id ID --name NAME
  slokeeper account list
  slokeeper account put ID --kind document|data|credential --key KEY (--value V | --file F)
  slokeeper account get ID --kind document|data|credential --key KEY   (needs a grant)
  slokeeper account delete ID                          disable now, erase after the cancel window
  slokeeper account cancel-deletion ID
  slokeeper grant request --account ID --scope document|data|credential|all --reason WHY --duration 2h
  slokeeper grant approve GRANT                        an admin, not the requester when the policy wants two people
  slokeeper grant revoke GRANT
  slokeeper grant list [--account ID] [--lang ja|en]
  slokeeper access review [--format text|json]        who holds which role and grant, and what each grant was used for

After slokeeper login (or with SLOKEEPER_TOKEN and SLOKEEPER_SERVER) every
one of these goes through the server's API as you, and the ledger records
you and the token: the server checks your role, and reading an account's
data needs an approved, unexpired grant, approved by another admin when the
policy wants two people (an approval by the requester is refused). account
list is for admin, operator and support staff, access review for admins
and auditors.

Without a server, create, put, get, delete, cancel-deletion, request,
approve and revoke act on the store as the operator whose own API token is
in SLOKEEPER_TOKEN (never on the command line), checked as the API checks
it; account list, grant list and access review read the store directly,
as local administration, with --data, --db and --master-key.`

// cliVault opens what vault commands need, acting as the operator whose
// API token the command was given (cliOperator).
type cliVault struct {
	v     *vault.Vault
	actor vault.Actor
	store *Store
	close func()
}

// openCLIVault opens the vault; with asOperator, as the proven operator,
// whose token must permit writes when write is set.
func openCLIVault(ctx context.Context, cfg Config, getenv func(string) string, asOperator, write bool) (*cliVault, error) {
	store, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var actor vault.Actor
	if asOperator {
		op, tok, err := cliOperator(ctx, store, getenv)
		if err == nil {
			err = tok.Permits(write)
		}
		if err != nil {
			store.Close()
			return nil, err
		}
		actor = vault.Actor{Operator: op, Label: "operator:" + op.Name + " token:" + tok.ID + " via " + cliActor()}
	}
	m, err := openLocalMain(ctx, cfg, store)
	if err != nil {
		store.Close()
		return nil, err
	}
	return &cliVault{v: m.Vault, store: store, actor: actor, close: func() { m.closeKeys(); store.Close() }}, nil
}

// cliOperator is the operator a command acts as, proven by their own API
// token under the rule the HTTP API applies to a bearer token
// (slokeeper.AuthenticateToken), never by a name typed on the command
// line. Like the API, it lets an operator who must change their password
// do nothing else first.
func cliOperator(ctx context.Context, store *Store, getenv func(string) string) (*slokeeper.Operator, *slokeeper.APIToken, error) {
	token, err := cliToken(getenv)
	if err != nil {
		return nil, nil, err
	}
	if token == "" {
		return nil, nil, slokeeper.Errorf(slokeeper.EUNAUTHORIZED, "This command acts as you: run slokeeper login --server URL, or set SLOKEEPER_TOKEN to your own API token.")
	}
	op, tok, err := slokeeper.AuthenticateToken(ctx, store.Operators, token, time.Now())
	if err != nil {
		if slokeeper.ErrorCode(err) == slokeeper.EUNAUTHORIZED {
			return nil, nil, slokeeper.Errorf(slokeeper.EUNAUTHORIZED, "%s Run slokeeper login --server URL to sign in again.", slokeeper.ErrorMessage(err))
		}
		return nil, nil, err
	}
	if op.MustChangePassword {
		return nil, nil, slokeeper.Errorf(slokeeper.EFORBIDDEN, "Change your password first: sign in to the console, or POST /api/v1/auth/password.")
	}
	return op, tok, nil
}

// cliToken is the API token of the person running a command: the
// environment's SLOKEEPER_TOKEN (a flag would show in ps), else the one
// slokeeper login stored (credentials.json). A stored file others may
// read is refused, not used.
func cliToken(getenv func(string) string) (string, error) {
	if t := strings.TrimSpace(getenv("SLOKEEPER_TOKEN")); t != "" {
		return t, nil
	}
	c, err := readCredentials(getenv)
	if err != nil || c == nil {
		return "", err
	}
	return c.Token, nil
}

func runAccount(ctx context.Context, cmd string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, accountUsage)
		return errUsage
	}
	if helpFlag(args[0]) || args[0] == "help" {
		fmt.Fprint(stdout, accountUsage)
		return nil
	}
	sub, args := cmd+" "+args[0], args[1:]
	fs := flag.NewFlagSet(sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, accountUsage, "\nFlags:\n"); fs.PrintDefaults() }
	cf := newConfigFlags(fs, "data", "db", "master-key", "keys-db", "policy")
	var id, name, kind, key, value, file, account, scope, reason, format, lang string
	var duration time.Duration
	var positional string
	asOperator := true
	if slices.Contains([]string{"grant request", "grant approve", "grant list", "access review"}, sub) {
		fs.StringVar(&lang, "lang", "ja", "language: ja or en")
	}
	switch sub {
	case "account create":
		fs.StringVar(&id, "id", "", "account ID")
		fs.StringVar(&name, "name", "", "account name")
	case "account list", "grant list", "access review":
		asOperator = false
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
	if slices.Contains([]string{"account put", "account get", "account delete", "account cancel-deletion", "grant approve", "grant revoke"}, sub) {
		p, rest, ok := positionalArg(args)
		if !ok {
			fmt.Fprintf(stderr, "%s: name the account or grant first\n", sub)
			return errUsage
		}
		positional, args = p, rest
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if sub == "account list" || sub == "access review" {
		c, err := signedIn(getenv)
		if err != nil {
			return err
		}
		if c != nil && sub == "account list" {
			var out struct {
				Accounts []*slokeeper.Account `json:"accounts"`
			}
			if err := c.do(ctx, http.MethodGet, "/api/v1/accounts", nil, &out); err != nil {
				return err
			}
			return writeAccounts(stdout, out.Accounts, account)
		}
		if c != nil {
			var rev slokeeper.AccessReview
			if err := c.do(ctx, http.MethodGet, "/api/v1/access-review", nil, &rev); err != nil {
				return err
			}
			return writeAccessReview(stdout, &rev, format, lang)
		}
	}
	if slices.Contains(accountAPICommands, sub) {
		server, err := cliServer(getenv)
		if err != nil {
			return err
		}
		if server != "" {
			c, err := newAPIClient(getenv)
			if err != nil {
				return err
			}
			return runAccountAPI(ctx, c, sub, accountArgs{lang: lang, id: id, name: name, kind: kind, key: key, value: value, file: file,
				account: account, scope: scope, reason: reason, duration: duration, positional: positional}, stdout)
		}
	}
	cfg, err := cf.load(getenv)
	if err != nil {
		return err
	}
	cv, err := openCLIVault(ctx, cfg, getenv, asOperator, sub != "account get")
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
		return showGrant(ctx, cv.store, stdout, "アクセス権を申請しました", "grant requested", g, err, lang)
	case "grant approve":
		g, err := v.ApproveGrant(ctx, by, positional)
		return showGrant(ctx, cv.store, stdout, "アクセス権を承認しました", "grant approved", g, err, lang)
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
		return writeAccounts(stdout, as, "")
	case "grant list":
		gs, err := cv.store.Grants.FindGrants(ctx, slokeeper.GrantFilter{Account: account})
		if err != nil {
			return err
		}
		names, err := loadGrantNames(ctx, cv.store)
		if err != nil {
			return err
		}
		return writeGrants(stdout, gs, nil, names, lang, time.Now())
	}
	rev, err := slokeeper.ReviewAccess(ctx, cv.store.Operators, cv.store.Accounts, cv.store.Grants, cv.store.Audit, time.Now())
	if err != nil {
		return err
	}
	return writeAccessReview(stdout, rev, format, lang)
}

// writeAccounts lists accounts (only the one with ID only, when set)
// with their state and the end of their deletion's cancel window.
func writeAccounts(w io.Writer, as []*slokeeper.Account, only string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tCREATED\tDELETION DUE")
	for _, a := range as {
		if only != "" && a.ID != only {
			continue
		}
		due := ""
		if !a.DeletionDueAt.IsZero() {
			due = a.DeletionDueAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.ID, termSafe(a.Name), a.Status, a.CreatedAt.Format(time.RFC3339), due)
	}
	return tw.Flush()
}

func grantState(g *slokeeper.Grant, now time.Time) string { return g.State(now) }

// showGrant writes a grant a command just requested or approved, or
// returns the error that refused it.
func showGrant(ctx context.Context, store *Store, w io.Writer, labelJA, labelEN string, g *slokeeper.Grant, err error, lang string) error {
	if err != nil {
		return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
	}
	names, err := loadGrantNames(ctx, store)
	if err != nil {
		return err
	}
	writeGrant(w, labelJA, labelEN, g, names, lang, time.Now())
	return nil
}

// writeGrants lists grants with operator and account names and durations
// a person reads ("2h", 「2時間」); the grant ID stays, for approve and revoke.
func writeGrants(w io.Writer, gs []*slokeeper.Grant, uses map[string]int, names grantNames, lang string, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GRANT\tOPERATOR\tACCOUNT\tSCOPE\tDURATION\tSTATE\tAPPROVER\tEXPIRES\tREADS\tREASON")
	for _, g := range gs {
		exp := ""
		if !g.ExpiresAt.IsZero() {
			exp = g.ExpiresAt.Format(time.RFC3339)
		}
		approver := ""
		if g.ApproverID != "" {
			approver = names.operator(g.ApproverID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", g.ID, names.operator(g.OperatorID), names.account(g.Account, lang), g.Scope,
			grantSpan(g.Duration, lang), grantStateText(grantState(g, now), lang), approver, exp, uses[g.ID], termSafe(g.Reason))
	}
	return tw.Flush()
}

// writeAccessReview writes an access review: every operator with their
// role, and every grant with its state and how many reads it was used
// for, from the audit ledger.
func writeAccessReview(w io.Writer, rev *slokeeper.AccessReview, format, lang string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rev)
	}
	fmt.Fprintf(w, "Access review, %s\n\nOperators\n", rev.ReviewedAt.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tTWO-FACTOR\tSTATE")
	names := grantNames{operators: map[string]string{}, accounts: map[string]string{}}
	for _, o := range rev.Operators {
		names.operators[o.ID] = o.Name
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", termSafe(o.Name), o.Role, o.TwoFactor, o.State)
	}
	tw.Flush()
	fmt.Fprint(w, "\nGrants\n")
	gs, uses := make([]*slokeeper.Grant, 0, len(rev.Grants)), map[string]int{}
	for _, g := range rev.Grants {
		gs = append(gs, g.Grant)
		uses[g.ID] = g.Reads
		if g.AccountName != "" {
			names.accounts[g.Account] = g.AccountName
		}
	}
	return writeGrants(w, gs, uses, names, lang, rev.ReviewedAt)
}
