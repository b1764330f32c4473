package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"slokeeper"
	"slokeeper/internal/auth"
	"slokeeper/policy"
)

const operatorUsage = `Usage:
  slokeeper operator add --name NAME --role admin|operator|support|auditor [--email E]
  slokeeper operator list [--all]
  slokeeper operator role NAME --role admin|operator|support|auditor
  slokeeper operator disable NAME
  slokeeper operator enable NAME           let a disabled operator sign in again
  slokeeper operator totp-reset NAME       turn NAME's two-factor sign-in off, to enrol again (not your own)
  slokeeper operator passwd NAME           a new one-time password, to be changed at sign-in
  slokeeper operator totp [NAME]           turn on your own two-factor sign-in (NAME, if given, is you):
                                           shows the secret, its URL and a QR code once, then asks
                                           for a code from the authenticator app
  slokeeper operator unlock NAME           lift NAME's sign-in locks, from every address
  slokeeper operator token create --operator NAME --name TOKEN-NAME [--scope read|write] [--expires 30d]
  slokeeper operator token list --operator NAME
  slokeeper operator token revoke ID

Passwords, TOTP secrets and tokens are shown once and stored only as
hashes (or, for TOTP, encrypted). Every change is in the audit ledger.

After slokeeper login (or with SLOKEEPER_SERVER and SLOKEEPER_TOKEN set),
every command goes through the server's API as you, and the ledger records
you: totp enrols yourself, in any role; the others need an admin. After an
admin's totp-reset you must enrol again before anything else (login offers
to). totp needs a sign-in; without one the others work on the store
directly, as local administration:
` + directStoreHelp

func newOperator(name, role, password string, now time.Time) (*slokeeper.Operator, error) {
	h, err := auth.HashPassword(password, auth.OWASP)
	if err != nil {
		return nil, err
	}
	return &slokeeper.Operator{ID: "op_" + auth.NewToken("")[:12], Name: name, Role: role,
		PasswordHash: h, MustChangePassword: true, CreatedAt: now}, nil
}

func runOperator(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, operatorUsage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	if sub == "token" {
		if len(args) == 0 {
			fmt.Fprint(stderr, operatorUsage)
			return errUsage
		}
		sub, args = "token "+args[0], args[1:]
	}
	fs := flag.NewFlagSet("operator "+sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, operatorUsage, "\nFlags:\n"); fs.PrintDefaults() }
	cf := newConfigFlags(fs, "data", "db", "master-key", "keys-db")
	var name, role, email, opName, scope, expires string
	var all bool
	var positional string
	switch sub {
	case "add":
		fs.StringVar(&name, "name", "", "login name")
		fs.StringVar(&role, "role", "", "admin, operator, support or auditor")
		fs.StringVar(&email, "email", "", "e-mail address")
	case "list":
		fs.BoolVar(&all, "all", false, "include disabled operators")
	case "totp":
		if p, rest, ok := positionalArg(args); ok {
			positional, args = p, rest
		}
	case "disable", "enable", "totp-reset", "passwd", "unlock", "token revoke", "role":
		p, rest, ok := positionalArg(args)
		if !ok {
			fmt.Fprintf(stderr, "operator %s: name the %s first\n", sub, map[bool]string{true: "token ID", false: "operator"}[sub == "token revoke"])
			return errUsage
		}
		positional, args = p, rest
		if sub == "role" {
			fs.StringVar(&role, "role", "", "admin, operator, support or auditor")
		}
	case "token create":
		fs.StringVar(&opName, "operator", "", "the operator the token acts as")
		fs.StringVar(&name, "name", "", "what the token is for")
		fs.StringVar(&scope, "scope", "read", "read or write")
		fs.StringVar(&expires, "expires", "30d", "how long it lasts (e.g. 30d, 1y)")
	case "token list":
		fs.StringVar(&opName, "operator", "", "whose tokens")
	case "-h", "--help", "help":
		fmt.Fprint(stdout, operatorUsage)
		return nil
	default:
		fmt.Fprintf(stderr, "slokeeper operator: unknown command %q\n\n%s", sub, operatorUsage)
		return errUsage
	}
	server, err := cliServer(getenv)
	if err != nil {
		return err
	}
	if server == "" && sub == "totp" {
		if err := parseFlags(fs, args, stderr); err != nil {
			return err // --help among them
		}
		return errNotLoggedIn // one's own enrolment: only as the signed-in operator
	}
	if server != "" {
		if err := parseFlags(fs, args, stderr); err != nil {
			return err
		}
		c, err := newAPIClient(getenv)
		if err != nil {
			return err
		}
		if sub == "totp" {
			return enrolTOTP(ctx, c, positional, &prompter{in: stdin, stderr: stderr}, stdout)
		}
		return runOperatorAPI(ctx, c, sub, operatorArgs{name: name, role: role, email: email, opName: opName,
			scope: scope, expires: expires, all: all, positional: positional}, stdout, stderr)
	}
	cfg, store, err := openForCommand(ctx, fs, cf, args, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	ops := store.Operators
	now := time.Now()
	if sub == "list" {
		list, err := ops.FindOperators(ctx, slokeeper.OperatorFilter{IncludeDisabled: all})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tTOTP\tCREATED\tDISABLED")
		for _, o := range list {
			disabled := ""
			if !o.DisabledAt.IsZero() {
				disabled = o.DisabledAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", termSafe(o.Name), o.Role, o.TOTPSecret != nil, o.CreatedAt.Format(time.RFC3339), disabled)
		}
		return tw.Flush()
	}
	audit, err := openLedger(cfg, store, slokeeper.SystemClock{})
	if err != nil {
		return err
	}
	record := func(action, target, detail string) error {
		_, err := audit.Record(ctx, cliActor(), action, target, localDetail(detail))
		return err
	}
	find := func(n string) (*slokeeper.Operator, error) {
		list, err := ops.FindOperators(ctx, slokeeper.OperatorFilter{Name: n})
		if err != nil {
			return nil, err
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("no operator %q", n)
		}
		return list[0], nil
	}
	switch sub {
	case "add":
		password := auth.NewPassword()
		op, err := newOperator(name, role, password, now)
		if err != nil {
			return err
		}
		op.Email = email
		if err := op.Validate(); err != nil {
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
		if err := record("operator.add", "operator:"+name, "role "+role); err != nil {
			return err
		}
		if err := ops.CreateOperator(ctx, op); err != nil {
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "operator: %s (%s)\npassword: %s\n", name, role, password)
		fmt.Fprint(stderr, "A one-time password: it must be changed at the first sign-in.\n一時パスワードです。最初のサインインで変更が必要です。\n")
		return nil
	case "disable":
		op, err := find(positional)
		if err != nil {
			return err
		}
		if err := record("operator.disable", "operator:"+op.Name, ""); err != nil {
			return err
		}
		if err := ops.UpdateOperator(ctx, op.ID, slokeeper.OperatorUpdate{DisabledAt: &now}); err != nil {
			return err
		}
		ops.DeleteOperatorSessions(ctx, op.ID)
		fmt.Fprintf(stdout, "disabled %s and ended their sessions\n", op.Name)
		return nil
	case "enable":
		op, err := find(positional)
		if err != nil {
			return err
		}
		if op.DisabledAt.IsZero() {
			return slokeeper.Errorf(slokeeper.ECONFLICT, "Operator %q is not disabled.", op.Name)
		}
		if err := record("operator.enable", "operator:"+op.Name, ""); err != nil {
			return err
		}
		var zero time.Time
		if err := ops.UpdateOperator(ctx, op.ID, slokeeper.OperatorUpdate{DisabledAt: &zero}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "enabled %s\n", op.Name)
		return nil
	case "totp-reset":
		op, err := find(positional)
		if err != nil {
			return err
		}
		if op.TOTPSecret == nil {
			return slokeeper.Errorf(slokeeper.ECONFLICT, "Operator %q has no two-factor sign-in to reset.", op.Name)
		}
		if err := record("operator.totp-reset", "operator:"+op.Name, "two-factor sign-in reset; enrolment needed again"); err != nil {
			return err
		}
		none, yes := []byte(nil), true
		if err := ops.UpdateOperator(ctx, op.ID, slokeeper.OperatorUpdate{TOTPSecret: &none, MustEnrolTOTP: &yes}); err != nil {
			return err
		}
		ops.DeleteOperatorSessions(ctx, op.ID)
		fmt.Fprintf(stdout, "reset %s's two-factor sign-in and ended their sessions\n", op.Name)
		return nil
	case "passwd":
		op, err := find(positional)
		if err != nil {
			return err
		}
		password := auth.NewPassword()
		h, err := auth.HashPassword(password, auth.OWASP)
		if err != nil {
			return err
		}
		if err := record("operator.passwd", "operator:"+op.Name, "reset to a one-time password"); err != nil {
			return err
		}
		yes := true
		if err := ops.UpdateOperator(ctx, op.ID, slokeeper.OperatorUpdate{PasswordHash: &h, MustChangePassword: &yes}); err != nil {
			return err
		}
		ops.DeleteOperatorSessions(ctx, op.ID)
		fmt.Fprintf(stdout, "password: %s\n", password)
		return nil
	case "role":
		op, err := find(positional)
		if err != nil {
			return err
		}
		changed := *op
		changed.Role = role
		if err := changed.Validate(); err != nil {
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
		if err := record("operator.role", "operator:"+op.Name, op.Role+" → "+role); err != nil {
			return err
		}
		if err := ops.UpdateOperator(ctx, op.ID, slokeeper.OperatorUpdate{Role: &role}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is now %s\n", op.Name, role)
		return nil
	case "unlock":
		if err := record("operator.unlock", "operator:"+positional, ""); err != nil {
			return err
		}
		n, err := ops.UnlockLogin(ctx, positional, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "unlocked %s (%d %s locked)\n", positional, n, map[bool]string{true: "address was", false: "addresses were"}[n == 1])
		return nil
	case "token create":
		op, err := find(opName)
		if err != nil {
			return err
		}
		d, err := policy.ParseDuration(expires)
		if err != nil || d.IsZero() {
			fmt.Fprintf(stderr, "operator token create: --expires %q is not a duration like 30d or 1y\n", expires)
			return errUsage
		}
		if err := slokeeper.ValidTokenScope(scope); err != nil {
			fmt.Fprintf(stderr, "operator token create: --scope %q is not read or write\n", scope)
			return errUsage
		}
		token := auth.NewToken(slokeeper.OperatorTokenPrefix)
		t := &slokeeper.APIToken{ID: "tok_" + auth.NewToken("")[:12], OperatorID: op.ID, Name: name, Scope: scope,
			TokenHash: slokeeper.HashToken(token), CreatedAt: now, ExpiresAt: d.AddTo(now)}
		if err := record("token.create", "operator:"+op.Name, fmt.Sprintf("%s (%s scope, until %s)", t.ID, scope, t.ExpiresAt.Format(time.RFC3339))); err != nil {
			return err
		}
		if err := ops.CreateAPIToken(ctx, t); err != nil {
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "token:   %s\nid:      %s\nexpires: %s\n", token, t.ID, t.ExpiresAt.Format(time.RFC3339))
		return nil
	case "token list":
		op, err := find(opName)
		if err != nil {
			return err
		}
		list, err := ops.FindAPITokens(ctx, op.ID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSCOPE\tEXPIRES\tREVOKED")
		for _, t := range list {
			revoked := ""
			if !t.RevokedAt.IsZero() {
				revoked = t.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, termSafe(t.Name), t.Scope, t.ExpiresAt.Format(time.RFC3339), revoked)
		}
		return tw.Flush()
	case "token revoke":
		if err := record("token.revoke", "token:"+positional, ""); err != nil {
			return err
		}
		if err := ops.RevokeAPIToken(ctx, positional, now); err != nil {
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "revoked %s\n", positional)
		return nil
	}
	return nil
}
