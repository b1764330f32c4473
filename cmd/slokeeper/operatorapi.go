package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"slokeeper"
	"slokeeper/policy"
)

// operatorArgs are an operator command's flags and argument.
type operatorArgs struct {
	name, role, email, opName, scope, expires string
	all                                       bool
	positional                                string
}

// runOperatorAPI runs an operator command through the server's API as the
// signed-in admin; the server checks the role and records the admin.
func runOperatorAPI(ctx context.Context, c *apiClient, sub string, a operatorArgs, stdout, stderr io.Writer) error {
	named := "/api/v1/operators/" + url.PathEscape(a.positional)
	switch sub {
	case "add":
		var out struct {
			Operator slokeeper.Operator `json:"operator"`
			Password string             `json:"password"`
		}
		if err := c.do(ctx, http.MethodPost, "/api/v1/operators", map[string]string{"name": a.name, "role": a.role, "email": a.email}, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "operator: %s (%s)\npassword: %s\n", termSafe(out.Operator.Name), out.Operator.Role, out.Password)
		fmt.Fprint(stderr, "A one-time password: it must be changed at the first sign-in.\n一時パスワードです。最初のサインインで変更が必要です。\n")
		return nil
	case "list":
		var out struct {
			Operators []struct {
				slokeeper.Operator
				TOTP bool `json:"totp"`
			} `json:"operators"`
		}
		path := "/api/v1/operators"
		if a.all {
			path += "?all=true"
		}
		if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tTOTP\tCREATED\tDISABLED")
		for _, o := range out.Operators {
			disabled := ""
			if !o.DisabledAt.IsZero() {
				disabled = o.DisabledAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", termSafe(o.Name), o.Role, o.TOTP, o.CreatedAt.Format(time.RFC3339), disabled)
		}
		return tw.Flush()
	case "role":
		if err := c.do(ctx, http.MethodPost, named+"/role", map[string]string{"role": a.role}, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is now %s\n", termSafe(a.positional), a.role)
		return nil
	case "disable":
		if err := c.do(ctx, http.MethodPost, named+"/disable", nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "disabled %s and ended their sessions\n", termSafe(a.positional))
		return nil
	case "enable":
		if err := c.do(ctx, http.MethodPost, named+"/enable", nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "enabled %s\n", termSafe(a.positional))
		return nil
	case "totp-reset":
		if err := c.do(ctx, http.MethodPost, named+"/totp-reset", nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "reset %s's two-factor sign-in and ended their sessions\n", termSafe(a.positional))
		return nil
	case "passwd":
		var out struct {
			Password string `json:"password"`
		}
		if err := c.do(ctx, http.MethodPost, named+"/password-reset", nil, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password: %s\n", out.Password)
		return nil
	case "unlock":
		var out struct {
			N int `json:"locked_addresses"`
		}
		if err := c.do(ctx, http.MethodPost, named+"/unlock", nil, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "unlocked %s (%d %s locked)\n", termSafe(a.positional), out.N, map[bool]string{true: "address was", false: "addresses were"}[out.N == 1])
		return nil
	case "token create":
		d, err := policy.ParseDuration(a.expires)
		if err != nil || d.IsZero() {
			fmt.Fprintf(stderr, "operator token create: --expires %q is not a duration like 30d or 1y\n", a.expires)
			return errUsage
		}
		now := time.Now()
		var out struct {
			Token    string             `json:"token"`
			APIToken slokeeper.APIToken `json:"api_token"`
		}
		req := map[string]string{"name": a.name, "scope": a.scope, "expires": d.AddTo(now).Sub(now).String()}
		if err := c.do(ctx, http.MethodPost, "/api/v1/operators/"+url.PathEscape(a.opName)+"/tokens", req, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token:   %s\nid:      %s\nscope:   %s\nexpires: %s\n", out.Token, out.APIToken.ID, out.APIToken.Scope, out.APIToken.ExpiresAt.Format(time.RFC3339))
		return nil
	case "token list":
		var out struct {
			Tokens []slokeeper.APIToken `json:"tokens"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/v1/operators/"+url.PathEscape(a.opName)+"/tokens", nil, &out); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSCOPE\tEXPIRES\tREVOKED")
		for _, t := range out.Tokens {
			revoked := ""
			if !t.RevokedAt.IsZero() {
				revoked = t.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, termSafe(t.Name), t.Scope, t.ExpiresAt.Format(time.RFC3339), revoked)
		}
		return tw.Flush()
	case "token revoke":
		if err := c.do(ctx, http.MethodPost, "/api/v1/tokens/"+url.PathEscape(a.positional)+"/revoke", nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s\n", termSafe(a.positional))
		return nil
	}
	return fmt.Errorf("operator %s has no API path", sub)
}
