package httpserver

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"slokeeper"
)

// DefaultSubscribeLimit is how many subscribe requests one client address
// may make per SubscribeWindow.
const (
	DefaultSubscribeLimit = 10
	SubscribeWindow       = time.Hour
)

// windowLimiter allows each key at most limit events within window. Its
// memory is bounded: past maxKeys keys it starts afresh, which only ever
// lets more through.
type windowLimiter struct {
	limit  int
	window time.Duration
	mu     sync.Mutex
	events map[string][]time.Time
}

const maxLimiterKeys = 100000

// allow counts an event for key at now, or says how long until one would
// be allowed.
func (l *windowLimiter) allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	if l.limit < 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.events == nil || len(l.events) > maxLimiterKeys {
		l.events = map[string][]time.Time{}
	}
	recent := l.events[key][:0]
	for _, t := range l.events[key] {
		if now.Sub(t) < l.window {
			recent = append(recent, t)
		}
	}
	if len(recent) >= l.limit {
		l.events[key] = recent
		return false, recent[0].Add(l.window).Sub(now)
	}
	l.events[key] = append(recent, now)
	return true, 0
}

// Subscriptions is what the pages and API need of the notifier.
type Subscriptions interface {
	Subscribe(ctx context.Context, address, lang string, components []string) error
	Check(ctx context.Context, id, token, purpose string) (*slokeeper.Subscriber, error)
	Confirm(ctx context.Context, id, token string) (*slokeeper.Subscriber, error)
	Unsubscribe(ctx context.Context, id, token string) (*slokeeper.Subscriber, error)
	AddWebhook(ctx context.Context, url, lang string, components []string) (*slokeeper.Subscriber, string, error)
}

// subscribePage is the page after a subscription step.
type subscribePage struct {
	page
	Name  string
	Step  string // sent, confirm, confirmed, unsubscribe, unsubscribed, invalid
	Error string
	ID    string
	Token string
	Email string
}

func (s *Server) renderSubscribe(w http.ResponseWriter, r *http.Request, status int, data subscribePage) {
	data.Name = s.Policy.Service.Name.In(data.Lang)
	s.renderPrivate(w, r, status, "subscribe.html", data.Lang, data)
}

// handleSubscribe takes the status page's form: an address, a language
// and optionally components. The answer never says whether the address
// was subscribed already.
func (s *Server) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	l := lang(r)
	if ok, wait := s.subscribes.allow(remoteHost(r), s.Clock.Now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
		pg := page{Lang: l}
		s.renderSubscribe(w, r, http.StatusTooManyRequests, subscribePage{page: pg, Step: "invalid",
			Error: pg.T("このアドレスからの登録の申し込みが多すぎます。しばらくしてからもう一度お試しください。",
				"Too many subscriptions were asked for from your address. Please try again later.")})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.renderSubscribe(w, r, http.StatusBadRequest, subscribePage{page: page{Lang: l}, Step: "invalid", Error: page{Lang: l}.T("フォームを読み取れませんでした。", "The form could not be read.")})
		return
	}
	subLang := r.PostForm.Get("lang")
	if subLang != "en" {
		subLang = "ja"
	}
	address := strings.TrimSpace(r.PostForm.Get("email"))
	if err := s.Subscriptions.Subscribe(r.Context(), address, subLang, r.PostForm["component"]); err != nil {
		if slokeeper.ErrorCode(err) != slokeeper.EINVALID {
			Error(w, r, s.Logger, err)
			return
		}
		pg := page{Lang: l}
		s.renderSubscribe(w, r, http.StatusBadRequest, subscribePage{page: pg, Step: "invalid", Email: address,
			Error: pg.T("メールアドレスまたは選択した項目が正しくありません。", "The e-mail address or the choice is not valid.")})
		return
	}
	s.renderSubscribe(w, r, http.StatusOK, subscribePage{page: page{Lang: l}, Step: "sent", Email: address})
}

// handleConfirmForm shows the button that confirms: mail scanners open
// links, and opening one must not subscribe anybody.
func (s *Server) handleConfirmForm(w http.ResponseWriter, r *http.Request) {
	s.linkStep(w, r, "confirm", "confirm", nil)
}

func (s *Server) handleConfirm(w http.ResponseWriter, r *http.Request) {
	s.linkStep(w, r, "confirm", "confirmed", s.Subscriptions.Confirm)
}

func (s *Server) handleUnsubscribeForm(w http.ResponseWriter, r *http.Request) {
	s.linkStep(w, r, "unsubscribe", "unsubscribe", nil)
}

// handleUnsubscribe ends a subscription: from the page's button, or by
// a mail client's one-click POST (RFC 8058), which has no cookie and no
// origin; the link's token is what authorizes it.
func (s *Server) handleUnsubscribe(w http.ResponseWriter, r *http.Request) {
	s.linkStep(w, r, "unsubscribe", "unsubscribed", s.Subscriptions.Unsubscribe)
}

// linkStep checks a link's token and, for a POST, does the step. The
// page's language is the subscriber's unless the reader chose one.
func (s *Server) linkStep(w http.ResponseWriter, r *http.Request, purpose, step string, do func(context.Context, string, string) (*slokeeper.Subscriber, error)) {
	id, token := r.URL.Query().Get("s"), r.URL.Query().Get("t")
	sub, err := s.Subscriptions.Check(r.Context(), id, token, purpose)
	l := lang(r)
	if err == nil && r.URL.Query().Get("lang") == "" {
		l = sub.Lang
	}
	pg := page{Lang: l}
	if err == nil && do != nil {
		_, err = do(r.Context(), id, token)
	}
	if err != nil {
		if slokeeper.ErrorCode(err) != slokeeper.EUNAUTHORIZED {
			Error(w, r, s.Logger, err)
			return
		}
		s.renderSubscribe(w, r, http.StatusNotFound, subscribePage{page: pg, Step: "invalid",
			Error: pg.T("このリンクは無効か、すでに使われています。", "This link is not valid, or has been used already.")})
		return
	}
	s.renderSubscribe(w, r, http.StatusOK, subscribePage{page: pg, Step: step, ID: id, Token: token, Email: sub.Address})
}

// subscriberFilter reads ?state=confirmed|pending|all (default
// confirmed: a pending subscription is only somebody's claim that an
// address wants notices).
func subscriberFilter(state string) (slokeeper.SubscriberFilter, error) {
	switch state {
	case "", "confirmed":
		return slokeeper.SubscriberFilter{Confirmed: true}, nil
	case "pending":
		return slokeeper.SubscriberFilter{Pending: true}, nil
	case "all":
		return slokeeper.SubscriberFilter{}, nil
	}
	return slokeeper.SubscriberFilter{}, slokeeper.Errorf(slokeeper.EINVALID, "state is confirmed, pending or all; not %q.", state)
}

// handleSubscriberIndex lists subscribers for staff: GET
// /api/v1/subscribers[?channel=email|webhook][&state=confirmed|pending|all],
// confirmed ones by default.
func (s *Server) handleSubscriberIndex(w http.ResponseWriter, r *http.Request, p *principal) {
	f, err := subscriberFilter(r.URL.Query().Get("state"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	f.Channel = r.URL.Query().Get("channel")
	subs, err := s.Notices.FindSubscribers(r.Context(), f)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if subs == nil {
		subs = []*slokeeper.Subscriber{}
	}
	if err := s.Audit(r.Context(), p.actor(), "subscriber.list", "subscribers", ""); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscribers": subs})
}

// handleWebhookCreate adds a webhook: POST /api/v1/subscribers with
// {url, lang, components}. The answer holds its signing secret, shown
// this once.
func (s *Server) handleWebhookCreate(w http.ResponseWriter, r *http.Request, p *principal) {
	var req struct {
		URL        string   `json:"url"`
		Lang       string   `json:"lang"`
		Components []string `json:"components"`
	}
	if err := decode(w, r, &req); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	sub, secret, err := s.addWebhook(r, p, req.URL, req.Lang, req.Components)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"subscriber": sub, "secret": secret})
}

func (s *Server) addWebhook(r *http.Request, p *principal, url, lang string, components []string) (*slokeeper.Subscriber, string, error) {
	if lang == "" {
		lang = "ja"
	}
	if err := s.Audit(r.Context(), p.actor(), "subscriber.webhook.add", "webhook", url); err != nil {
		return nil, "", err
	}
	return s.Subscriptions.AddWebhook(r.Context(), url, lang, components)
}

func (s *Server) removeSubscriber(r *http.Request, p *principal, id string) error {
	if err := s.Audit(r.Context(), p.actor(), "subscriber.remove", "subscriber:"+id, ""); err != nil {
		return err
	}
	return s.Notices.DeleteSubscriber(r.Context(), id)
}

// handleSubscriberDelete removes a subscriber: DELETE /api/v1/subscribers/{id}.
func (s *Server) handleSubscriberDelete(w http.ResponseWriter, r *http.Request, p *principal) {
	if err := s.removeSubscriber(r, p, r.PathValue("id")); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
