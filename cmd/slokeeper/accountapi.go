package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"slokeeper"
)

// accountAPICommands go through the server's API as the signed-in
// operator whenever a server is known (slokeeper login, or
// SLOKEEPER_SERVER): the server checks the token, the role and the grant,
// and its ledger records the operator and the token.
var accountAPICommands = []string{"account create", "account put", "account get", "account delete", "account cancel-deletion",
	"grant request", "grant approve", "grant revoke", "grant list"}

// accountArgs are an account or grant command's flags and argument.
type accountArgs struct {
	id, name, kind, key, value, file, account, scope, reason string
	lang                                                     string // of grant output: ja or en
	duration                                                 time.Duration
	positional                                               string
}

// cliServer is the server commands act through: SLOKEEPER_SERVER, else
// the one slokeeper login stored; "" when neither is there.
func cliServer(getenv func(string) string) (string, error) {
	if s := getenv("SLOKEEPER_SERVER"); s != "" {
		return s, nil
	}
	c, err := readCredentials(getenv)
	if err != nil || c == nil {
		return "", err
	}
	return c.Server, nil
}

// itemKinds maps an item kind to the API's path segment.
var itemKinds = map[string]string{slokeeper.ItemDocument: "documents", slokeeper.ItemData: "data", slokeeper.ItemCredential: "credentials"}

func runAccountAPI(ctx context.Context, c *apiClient, sub string, a accountArgs, stdout io.Writer) error {
	show := func(label string, x any) error {
		b, _ := json.MarshalIndent(x, "", "  ")
		fmt.Fprintf(stdout, "%s\n%s\n", label, b)
		return nil
	}
	var out struct {
		Account *slokeeper.Account     `json:"account"`
		Grant   *slokeeper.Grant       `json:"grant"`
		Grants  []*slokeeper.Grant     `json:"grants"`
		Item    *slokeeper.AccountItem `json:"item"`
		Names   struct {
			Operators map[string]string `json:"operators"`
			Accounts  map[string]string `json:"accounts"`
		} `json:"names"`
	}
	names := func() grantNames { return grantNames{operators: out.Names.Operators, accounts: out.Names.Accounts} }
	acct := "/api/v1/accounts/" + url.PathEscape(a.positional)
	grant := "/api/v1/grants/" + url.PathEscape(a.positional)
	switch sub {
	case "account create":
		if err := c.do(ctx, http.MethodPost, "/api/v1/accounts", map[string]string{"id": a.id, "name": a.name}, &out); err != nil {
			return err
		}
		return show("account created:", out.Account)
	case "account put", "account get":
		seg, ok := itemKinds[a.kind]
		if !ok {
			return slokeeper.Errorf(slokeeper.EINVALID, "--kind %q is not document, data or credential.", a.kind)
		}
		path := acct + "/" + seg + "/" + url.PathEscape(a.key)
		if sub == "account get" {
			value, err := c.raw(ctx, http.MethodGet, path, nil)
			if err != nil {
				return err
			}
			_, err = stdout.Write(value)
			return err
		}
		data := []byte(a.value)
		if a.file != "" {
			var err error
			if data, err = os.ReadFile(a.file); err != nil {
				return err
			}
		}
		b, err := c.raw(ctx, http.MethodPut, path, data)
		if err != nil {
			return err
		}
		var it any
		json.Unmarshal(b, &it)
		if m, ok := it.(map[string]any); ok && m["item"] != nil {
			it = m["item"]
		}
		return show("stored:", it)
	case "account delete":
		if err := c.do(ctx, http.MethodDelete, acct, nil, &out); err != nil {
			return err
		}
		return show("deletion requested (cancellable until deletion_due_at):", out.Account)
	case "account cancel-deletion":
		if err := c.do(ctx, http.MethodPost, acct+"/cancel-deletion", nil, &out); err != nil {
			return err
		}
		return show("deletion cancelled:", out.Account)
	case "grant request":
		req := map[string]string{"account": a.account, "scope": a.scope, "reason": a.reason, "duration": a.duration.String()}
		if err := c.do(ctx, http.MethodPost, "/api/v1/grants", req, &out); err != nil {
			return err
		}
		writeGrant(stdout, "アクセス権を申請しました", "grant requested", out.Grant, names(), a.lang, time.Now())
		return nil
	case "grant approve":
		if err := c.do(ctx, http.MethodPost, grant+"/approve", nil, &out); err != nil {
			return err
		}
		writeGrant(stdout, "アクセス権を承認しました", "grant approved", out.Grant, names(), a.lang, time.Now())
		return nil
	case "grant revoke":
		if err := c.do(ctx, http.MethodPost, grant+"/revoke", nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s\n", a.positional)
		return nil
	case "grant list":
		path := "/api/v1/grants"
		if a.account != "" {
			path += "?account=" + url.QueryEscape(a.account)
		}
		if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
			return err
		}
		return writeGrants(stdout, out.Grants, nil, names(), a.lang, time.Now())
	}
	return fmt.Errorf("%s has no API path", sub)
}
