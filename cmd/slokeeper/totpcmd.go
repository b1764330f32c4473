package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"slokeeper"
)

// enrolTOTP turns on the signed-in operator's own two-factor sign-in
// through the API: the server makes the secret and seals it for them;
// it is shown here once (text, otpauth URL, QR code), then a code from
// the app confirms it. name, when given, must be the signed-in operator:
// nobody enrols another's app.
func enrolTOTP(ctx context.Context, c *apiClient, name string, p *prompter, stdout io.Writer) error {
	var e struct{ Name, Secret, URL, Sealed string }
	if err := c.do(ctx, http.MethodPost, "/api/v1/auth/totp", nil, &e); err != nil {
		if slokeeper.ErrorCode(err) == slokeeper.ECONFLICT {
			return slokeeper.Errorf(slokeeper.ECONFLICT, "%s\n2段階認証は既に有効です。新しいアプリを登録するには、ほかの管理者にリセットを依頼してください。", slokeeper.ErrorMessage(err))
		}
		return err
	}
	if name != "" && name != e.Name {
		return slokeeper.Errorf(slokeeper.EFORBIDDEN, "You are signed in as %s: operator totp enrols yourself only; %s signs in and enrols their own app.\n%s としてサインインしています。operator totp は本人の登録だけです。%s さん本人がサインインして登録してください。",
			termSafe(e.Name), termSafe(name), termSafe(e.Name), termSafe(name))
	}
	qr, err := qrTerminal(e.URL)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "secret: %s\nurl:    %s\n\n%s\n", e.Secret, e.URL, qr)
	fmt.Fprint(p.stderr, "Scan the QR code with an authenticator app (or enter the secret), then type the six-digit code it shows.\n"+
		"認証アプリで QR コードを読み取る（または鍵を入力する）と表示される6桁のコードを入力してください。\n")
	code, err := p.line(ctx, "Code / 確認コード: ")
	if err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodPost, "/api/v1/auth/totp/confirm", map[string]string{"sealed": e.Sealed, "code": strings.TrimSpace(code)}, nil); err != nil {
		if slokeeper.ErrorCode(err) == slokeeper.EINVALID {
			return slokeeper.Errorf(slokeeper.EINVALID, "%s\n確認コードが一致しません。もう一度 slokeeper operator totp を実行してください。", slokeeper.ErrorMessage(err))
		}
		return err
	}
	fmt.Fprintf(stdout, "Two-factor sign-in is on for %s: signing in now takes a code.\n%s さんの2段階認証を有効にしました。次回から確認コードが必要です。\n", termSafe(e.Name), termSafe(e.Name))
	return nil
}

// totpEnrolRequired is the server's refusal of anything but enrolment to
// an operator whose two-factor sign-in an admin reset.
type totpEnrolRequired struct{ error }

func (e totpEnrolRequired) Unwrap() error { return e.error }

// enrolRequiredText says what to do, in both languages.
const enrolRequiredText = "An admin reset your two-factor sign-in: enrol again first with slokeeper operator totp.\n" +
	"管理者が2段階認証をリセットしました。先に slokeeper operator totp で登録し直してください。"

// offerEnrolment tells an operator who just signed in that they must
// enrol again, and enrols them at once if they say yes.
func offerEnrolment(ctx context.Context, c *apiClient, p *prompter, stdout io.Writer) error {
	fmt.Fprintln(p.stderr, enrolRequiredText)
	answer, err := p.line(ctx, "Enrol now? / 今すぐ登録しますか？ [Y/n]: ")
	if err != nil {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "", "y", "yes", "はい":
		return enrolTOTP(ctx, c, "", p, stdout)
	}
	fmt.Fprintln(p.stderr, "Until you enrol, the server refuses everything else. / 登録するまで、ほかの操作はできません。")
	return nil
}
