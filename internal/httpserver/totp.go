package httpserver

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"

	"slokeeper"
	"slokeeper/internal/auth"
)

// One's own two-factor enrolment, for the console (/admin/totp) and the
// API (POST /api/v1/auth/totp, then /api/v1/auth/totp/confirm) alike: a
// fresh secret is shown once, and rides with the client sealed under the
// master key for this operator alone, so nothing is stored until a code
// from the app proves the app has it.

// TOTPEnrolHeader is set on the answers that refuse an operator who must
// enrol two-factor sign-in again (an admin reset it) and on their
// command-line sign-in, so that the CLI offers to enrol instead of
// giving up.
const TOTPEnrolHeader = "Slokeeper-TOTP-Enrol"

// The enrolment routes, which an operator who must enrol may still reach.
const (
	totpEnrolPath   = "/api/v1/auth/totp"
	totpConfirmPath = "/api/v1/auth/totp/confirm"
)

// totpEnrolAD binds a pending secret to the operator it was made for.
const totpEnrolAD = "totp-enrol:"

// The enrolment's refusals; the console words them in ja/en.
var (
	errTOTPOn       = slokeeper.Errorf(slokeeper.ECONFLICT, "Two-factor sign-in is on already; to enrol a new app, ask another admin to reset it first.")
	errTOTPUnsealed = slokeeper.Errorf(slokeeper.EINVALID, "The pending enrolment could not be read; start the enrolment again.")
	errTOTPCode     = slokeeper.Errorf(slokeeper.EINVALID, "The code does not match; start the enrolment again and enter the code the app shows.")
)

// totpEnrolment is a pending enrolment: the secret, its otpauth URL (what
// the QR code holds), and Sealed, the secret sealed for the operator, to
// be sent back with the first code.
type totpEnrolment struct {
	Name   string `json:"name"` // whose it is
	Secret string `json:"secret"`
	URL    string `json:"url"`
	Sealed string `json:"sealed"`
}

// startTOTPEnrolment makes a fresh secret for op; ECONFLICT if op has
// two-factor sign-in on already.
func (s *Server) startTOTPEnrolment(op *slokeeper.Operator) (*totpEnrolment, error) {
	if op.TOTPSecret != nil {
		return nil, errTOTPOn
	}
	secret := auth.NewTOTPSecret()
	sealed, err := s.Secrets.SealSystem([]byte(secret), []byte(totpEnrolAD+op.ID))
	if err != nil {
		return nil, err
	}
	return &totpEnrolment{Name: op.Name, Secret: secret, URL: auth.TOTPURL(secret, "slokeeper", op.Name), Sealed: hex.EncodeToString(sealed)}, nil
}

// confirmTOTPEnrolment turns two-factor sign-in on for the signed-in
// operator once code matches the sealed secret: the secret stored sealed
// under the master key, the code's step burnt, must-enrol lifted, and an
// entry in the ledger.
func (s *Server) confirmTOTPEnrolment(ctx context.Context, p *principal, sealedHex, code string) error {
	if p.op.TOTPSecret != nil {
		return errTOTPOn
	}
	sealed, err := hex.DecodeString(strings.TrimSpace(sealedHex))
	if err != nil {
		return errTOTPUnsealed
	}
	secret, err := s.Secrets.OpenSystem(sealed, []byte(totpEnrolAD+p.op.ID))
	if err != nil {
		return errTOTPUnsealed
	}
	step, ok := auth.CheckTOTP(string(secret), strings.TrimSpace(code), s.Clock.Now())
	if !ok {
		return errTOTPCode
	}
	if step < p.op.LastTOTPStep {
		step = p.op.LastTOTPStep // never lower the mark: no step is accepted twice
	}
	stored, err := s.Secrets.SealSystem(secret, []byte("totp:"+p.op.ID))
	if err != nil {
		return err
	}
	if err := s.Audit(ctx, p.actor(), "operator.totp", "operator:"+p.op.Name, "two-factor sign-in turned on"); err != nil {
		return err
	}
	no := false
	return s.Operators.UpdateOperator(ctx, p.op.ID, slokeeper.OperatorUpdate{TOTPSecret: &stored, LastTOTPStep: &step, MustEnrolTOTP: &no})
}

// handleTOTPStart: POST /api/v1/auth/totp starts one's own enrolment and
// answers {"name", "secret", "url", "sealed"}, shown this once.
func (s *Server) handleTOTPStart(w http.ResponseWriter, r *http.Request, p *principal) {
	e, err := s.startTOTPEnrolment(p.op)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, e)
}

// handleTOTPConfirm: POST /api/v1/auth/totp/confirm {"sealed", "code"}
// turns two-factor sign-in on.
func (s *Server) handleTOTPConfirm(w http.ResponseWriter, r *http.Request, p *principal) {
	var req struct{ Sealed, Code string }
	if err := decode(w, r, &req); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if err := s.confirmTOTPEnrolment(r.Context(), p, req.Sealed, req.Code); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": p.op.Name, "totp": true})
}
