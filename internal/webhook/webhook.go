// Package webhook posts notices to subscribers' URLs, signed as the
// Standard Webhooks specification describes (standardwebhooks.com): a
// webhook-id the receiver deduplicates on, a webhook-timestamp, and a
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>" under a
// "whsec_" secret. Receivers can use any Standard Webhooks library.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"slokeeper"
	"slokeeper/internal/netguard"
)

// NewSecret returns a new signing secret, "whsec_" and 24 random bytes.
func NewSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// key returns the HMAC key of a "whsec_" secret.
func key(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(k) == 0 {
		return nil, errors.New("webhook: the secret is not whsec_ and base64")
	}
	return k, nil
}

// Sign returns the webhook-signature of a message.
func Sign(secret, id string, at time.Time, body []byte) (string, error) {
	k, err := key(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, k)
	fmt.Fprintf(mac, "%s.%d.", id, at.Unix())
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Verify checks a signed request as a receiver does: the signature, and a
// timestamp within tolerance of now.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		return errors.New("webhook: no timestamp")
	}
	at := time.Unix(ts, 0)
	if d := now.Sub(at); d > tolerance || d < -tolerance {
		return errors.New("webhook: the timestamp is too far from now")
	}
	want, err := Sign(secret, h.Get("webhook-id"), at, body)
	if err != nil {
		return err
	}
	for sig := range strings.FieldsSeq(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("webhook: the signature does not match")
}

// Error is a receiver's refusal.
type Error struct {
	Status int
}

func (e *Error) Error() string {
	return fmt.Sprintf("the webhook answered %d %s", e.Status, http.StatusText(e.Status))
}

// Permanent reports whether trying again cannot help: a client error
// other than a timeout or a rate limit.
func (e *Error) Permanent() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusRequestTimeout && e.Status != http.StatusTooManyRequests
}

// Sender posts signed notices.
type Sender struct {
	// Targets says which addresses webhooks may be posted to; nil: the
	// public internet only (netguard's default). Every connection is
	// checked when it is dialed.
	Targets *netguard.Policy
	// Client posts; nil: a client over Targets' guarded transport (no
	// proxy), with a 15 s timeout, that does not follow redirects (a
	// notice goes where it was told to go). A Client given here is used
	// as it is, unguarded: tests only.
	Client *http.Client

	once    sync.Once
	guarded *http.Client
}

func (s *Sender) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	s.once.Do(func() {
		s.guarded = &http.Client{Transport: s.Targets.Transport(), Timeout: 15 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	})
	return s.guarded
}

// CheckURL refuses, before anything is stored, a webhook URL whose host
// is an address (or localhost) that Targets refuses, as a domain error
// for the person who typed it. Names are checked when dialed.
func (s *Sender) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return slokeeper.Errorf(slokeeper.EINVALID, "A webhook is an http(s) URL without credentials; not %q.", raw)
	}
	if err := s.Targets.CheckHost(u.Hostname()); err != nil {
		return slokeeper.Errorf(slokeeper.EINVALID, "The webhook %s cannot be used: %s.", raw, err)
	}
	return nil
}

// Send posts body (JSON) to url with the id (the same for every attempt)
// and the time at, signed with secret.
func (s *Sender) Send(ctx context.Context, url, secret, id string, at time.Time, body []byte) error {
	sig, err := Sign(secret, id, at, body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "slokeeper")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	c := s.client()
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &Error{Status: resp.StatusCode}
	}
	return nil
}
