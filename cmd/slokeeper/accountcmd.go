package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
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
	subs := map[string]func(context.Context, []string, func(string) string, io.Writer, io.Writer) error{
		"account create": runAccountCreate, "account list": runAccountList, "account put": runAccountPut, "account get": runAccountGet,
		"account delete": runAccountDelete, "account cancel-deletion": runAccountCancelDeletion,
		"grant request": runGrantRequest, "grant approve": runGrantApprove, "grant revoke": runGrantRevoke, "grant list": runGrantList,
		"access review": runAccessReview,
	}
	sub := cmd + " " + args[0]
	run, ok := subs[sub]
	if !ok {
		fmt.Fprintf(stderr, "slokeeper: unknown command %q\n\n%s", sub, accountUsage)
		return errUsage
	}
	return run(ctx, args[1:], getenv, stdout, stderr)
}

// itemKinds maps an item kind to the API's path segment.
var itemKinds = map[string]string{slokeeper.ItemDocument: "documents", slokeeper.ItemData: "data", slokeeper.ItemCredential: "credentials"}

// accountFlags are the flags every account, grant and access command has:
// where the store is, for use without a server.
func accountFlags(sub string, stderr io.Writer) (*flag.FlagSet, *configFlags) {
	fs := flag.NewFlagSet(sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, accountUsage, "\nFlags:\n"); fs.PrintDefaults() }
	return fs, newConfigFlags(fs, "data", "db", "master-key", "keys-db", "policy")
}

// accountArg takes the account or grant a command names first.
func accountArg(sub string, args []string, stderr io.Writer) (string, []string, error) {
	p, rest, ok := positionalArg(args)
	if !ok {
		fmt.Fprintf(stderr, "%s: name the account or grant first\n", sub)
		return "", nil, errUsage
	}
	return p, rest, nil
}

// viaServerOrStore runs api through the server when one is known (a
// sign-in, or SLOKEEPER_SERVER); else direct on the store, as the
// operator SLOKEEPER_TOKEN proves when asOperator (with a token that
// permits writes when write), or as local administration.
func viaServerOrStore(ctx context.Context, cf *configFlags, getenv func(string) string, asOperator, write bool,
	api func(*apiClient) error, direct func(*cliVault) error) error {
	c, err := signedIn(getenv)
	if err != nil {
		return err
	}
	if c != nil {
		return api(c)
	}
	cfg, err := cf.load(getenv)
	if err != nil {
		return err
	}
	cv, err := openCLIVault(ctx, cfg, getenv, asOperator, write)
	if err != nil {
		return err
	}
	defer cv.close()
	return direct(cv)
}

// showJSON writes a label and x as indented JSON, or the message of the
// error that refused it.
func showJSON(w io.Writer, label string, x any, err error) error {
	if err != nil {
		return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
	}
	b, _ := json.MarshalIndent(x, "", "  ")
	fmt.Fprintf(w, "%s\n%s\n", label, b)
	return nil
}

// accountAnswer is what the account and grant API answers.
type accountAnswer struct {
	Account *slokeeper.Account     `json:"account"`
	Grant   *slokeeper.Grant       `json:"grant"`
	Grants  []*slokeeper.Grant     `json:"grants"`
	Item    *slokeeper.AccountItem `json:"item"`
	Names   struct {
		Operators map[string]string `json:"operators"`
		Accounts  map[string]string `json:"accounts"`
	} `json:"names"`
}

func (a *accountAnswer) names() grantNames {
	return grantNames{operators: a.Names.Operators, accounts: a.Names.Accounts}
}

func accountPath(id string) string { return "/api/v1/accounts/" + url.PathEscape(id) }
func grantPath(id string) string   { return "/api/v1/grants/" + url.PathEscape(id) }

func runAccountCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := accountFlags("account create", stderr)
	id := fs.String("id", "", "account ID")
	name := fs.String("name", "", "account name")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	return viaServerOrStore(ctx, cf, getenv, true, true, func(c *apiClient) error {
		var out accountAnswer
		err := c.do(ctx, http.MethodPost, "/api/v1/accounts", map[string]string{"id": *id, "name": *name}, &out)
		if err != nil {
			return err
		}
		return showJSON(stdout, "account created:", out.Account, nil)
	}, func(cv *cliVault) error {
		a, err := cv.v.CreateAccount(ctx, cv.actor, *id, *name)
		return showJSON(stdout, "account created:", a, err)
	})
}

func runAccountList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := accountFlags("account list", stderr)
	account := fs.String("account", "", "only this account")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	return viaServerOrStore(ctx, cf, getenv, false, false, func(c *apiClient) error {
		var out struct {
			Accounts []*slokeeper.Account `json:"accounts"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/v1/accounts", nil, &out); err != nil {
			return err
		}
		return writeAccounts(stdout, out.Accounts, *account)
	}, func(cv *cliVault) error {
		as, err := cv.store.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{ID: *account})
		if err != nil {
			return err
		}
		return writeAccounts(stdout, as, "")
	})
}

// itemFlags are the flags naming one item of an account.
func itemFlags(fs *flag.FlagSet) (kind, key *string) {
	return fs.String("kind", "", "document, data or credential"), fs.String("key", "", "the item's key")
}

func itemPath(account, kind, key string) (string, error) {
	seg, ok := itemKinds[kind]
	if !ok {
		return "", slokeeper.Errorf(slokeeper.EINVALID, "--kind %q is not document, data or credential.", kind)
	}
	return accountPath(account) + "/" + seg + "/" + url.PathEscape(key), nil
}

func runAccountPut(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := accountFlags("account put", stderr)
	account, args, err := accountArg("account put", args, stderr)
	if err != nil {
		return err
	}
	kind, key := itemFlags(fs)
	value := fs.String("value", "", "the value")
	file := fs.String("file", "", "read the value from this file")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	data := []byte(*value)
	if *file != "" {
		if data, err = os.ReadFile(*file); err != nil {
			return err
		}
	}
	return viaServerOrStore(ctx, cf, getenv, true, true, func(c *apiClient) error {
		path, err := itemPath(account, *kind, *key)
		if err != nil {
			return err
		}
		b, err := c.raw(ctx, http.MethodPut, path, data)
		if err != nil {
			return err
		}
		var out accountAnswer
		json.Unmarshal(b, &out)
		return showJSON(stdout, "stored:", out.Item, nil)
	}, func(cv *cliVault) error {
		it, err := cv.v.PutItem(ctx, cv.actor, account, *kind, *key, data)
		return showJSON(stdout, "stored:", it, err)
	})
}

func runAccountGet(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := accountFlags("account get", stderr)
	account, args, err := accountArg("account get", args, stderr)
	if err != nil {
		return err
	}
	kind, key := itemFlags(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	return viaServerOrStore(ctx, cf, getenv, true, false, func(c *apiClient) error {
		path, err := itemPath(account, *kind, *key)
		if err != nil {
			return err
		}
		value, err := c.raw(ctx, http.MethodGet, path, nil)
		if err != nil {
			return err
		}
		_, err = stdout.Write(value)
		return err
	}, func(cv *cliVault) error {
		pt, _, err := cv.v.GetItem(ctx, cv.actor, account, *kind, *key)
		if err != nil {
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
		_, err = stdout.Write(pt)
		return err
	})
}

func runAccountDelete(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := accountFlags("account delete", stderr)
	account, args, err := accountArg("account delete", args, stderr)
	if err != nil {
		return err
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	const label = "deletion requested (cancellable until deletion_due_at):"
	return viaServerOrStore(ctx, cf, getenv, true, true, func(c *apiClient) error {
		var out accountAnswer
		if err := c.do(ctx, http.MethodDelete, accountPath(account), nil, &out); err != nil {
			return err
		}
		return showJSON(stdout, label, out.Account, nil)
	}, func(cv *cliVault) error {
		a, err := cv.v.RequestDeletion(ctx, cv.actor, account)
		return showJSON(stdout, label, a, err)
	})
}

func runAccountCancelDeletion(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := accountFlags("account cancel-deletion", stderr)
	account, args, err := accountArg("account cancel-deletion", args, stderr)
	if err != nil {
		return err
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	return viaServerOrStore(ctx, cf, getenv, true, true, func(c *apiClient) error {
		var out accountAnswer
		if err := c.do(ctx, http.MethodPost, accountPath(account)+"/cancel-deletion", nil, &out); err != nil {
			return err
		}
		return showJSON(stdout, "deletion cancelled:", out.Account, nil)
	}, func(cv *cliVault) error {
		a, err := cv.v.CancelDeletion(ctx, cv.actor, account)
		return showJSON(stdout, "deletion cancelled:", a, err)
	})
}

func langFlag(fs *flag.FlagSet) *string { return fs.String("lang", "ja", "language: ja or en") }

func runGrantRequest(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := accountFlags("grant request", stderr)
	lang := langFlag(fs)
	account := fs.String("account", "", "the account")
	scope := fs.String("scope", "all", "document, data, credential or all")
	reason := fs.String("reason", "", "why you need the access")
	duration := fs.Duration("duration", time.Hour, "how long (at most access.grant_max)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	const ja, en = "アクセス権を申請しました", "grant requested"
	return viaServerOrStore(ctx, cf, getenv, true, true, func(c *apiClient) error {
		var out accountAnswer
		req := map[string]string{"account": *account, "scope": *scope, "reason": *reason, "duration": duration.String()}
		if err := c.do(ctx, http.MethodPost, "/api/v1/grants", req, &out); err != nil {
			return err
		}
		writeGrant(stdout, ja, en, out.Grant, out.names(), *lang, time.Now())
		return nil
	}, func(cv *cliVault) error {
		g, err := cv.v.RequestGrant(ctx, cv.actor, *account, *scope, *reason, *duration)
		return showGrant(ctx, cv.store, stdout, ja, en, g, err, *lang)
	})
}

func runGrantApprove(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := accountFlags("grant approve", stderr)
	id, args, err := accountArg("grant approve", args, stderr)
	if err != nil {
		return err
	}
	lang := langFlag(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	const ja, en = "アクセス権を承認しました", "grant approved"
	return viaServerOrStore(ctx, cf, getenv, true, true, func(c *apiClient) error {
		var out accountAnswer
		if err := c.do(ctx, http.MethodPost, grantPath(id)+"/approve", nil, &out); err != nil {
			return err
		}
		writeGrant(stdout, ja, en, out.Grant, out.names(), *lang, time.Now())
		return nil
	}, func(cv *cliVault) error {
		g, err := cv.v.ApproveGrant(ctx, cv.actor, id)
		return showGrant(ctx, cv.store, stdout, ja, en, g, err, *lang)
	})
}

func runGrantRevoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := accountFlags("grant revoke", stderr)
	id, args, err := accountArg("grant revoke", args, stderr)
	if err != nil {
		return err
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	err = viaServerOrStore(ctx, cf, getenv, true, true, func(c *apiClient) error {
		return c.do(ctx, http.MethodPost, grantPath(id)+"/revoke", nil, nil)
	}, func(cv *cliVault) error {
		if err := cv.v.RevokeGrant(ctx, cv.actor, id); err != nil {
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %s\n", id)
	return nil
}

func runGrantList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := accountFlags("grant list", stderr)
	lang := langFlag(fs)
	account := fs.String("account", "", "only this account")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	return viaServerOrStore(ctx, cf, getenv, false, false, func(c *apiClient) error {
		path := "/api/v1/grants"
		if *account != "" {
			path += "?account=" + url.QueryEscape(*account)
		}
		var out accountAnswer
		if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
			return err
		}
		return writeGrants(stdout, out.Grants, nil, out.names(), *lang, time.Now())
	}, func(cv *cliVault) error {
		gs, err := cv.store.Grants.FindGrants(ctx, slokeeper.GrantFilter{Account: *account})
		if err != nil {
			return err
		}
		names, err := loadGrantNames(ctx, cv.store)
		if err != nil {
			return err
		}
		return writeGrants(stdout, gs, nil, names, *lang, time.Now())
	})
}

func runAccessReview(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := accountFlags("access review", stderr)
	lang := langFlag(fs)
	format := fs.String("format", "text", "text or json")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	return viaServerOrStore(ctx, cf, getenv, false, false, func(c *apiClient) error {
		var rev slokeeper.AccessReview
		if err := c.do(ctx, http.MethodGet, "/api/v1/access-review", nil, &rev); err != nil {
			return err
		}
		return writeAccessReview(stdout, &rev, *format, *lang)
	}, func(cv *cliVault) error {
		rev, err := slokeeper.ReviewAccess(ctx, cv.store.Operators, cv.store.Accounts, cv.store.Grants, cv.store.Audit, time.Now())
		if err != nil {
			return err
		}
		return writeAccessReview(stdout, rev, *format, *lang)
	})
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
		uses[g.Grant.ID] = g.Reads
		if g.AccountName != "" {
			names.accounts[g.Grant.Account] = g.AccountName
		}
	}
	return writeGrants(w, gs, uses, names, lang, rev.ReviewedAt)
}
