// Package smtp sends slokeeper's mail: notices and confirmations, as UTF-8
// text, to one submission server over TLS (STARTTLS or implicit), on a
// small pool of kept-open connections. go-mail writes the messages (MIME,
// RFC 2047 headers) and speaks SMTP; this package adds the pool and the
// moment a message is handed over, which the notifier records so that a
// crash never sends a notice twice.
package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
)

// TLS modes.
const (
	StartTLS = "starttls" // submission on 587: STARTTLS, required
	Implicit = "tls"      // submissions on 465: TLS from the first byte
	// None: no TLS. Only for a server on the loopback interface (a local
	// relay), since slokeeper encrypts whatever it transmits.
	None = "none"
)

// Config says where and how mail goes.
type Config struct {
	Addr     string // host:port
	TLS      string // StartTLS (default), Implicit or None
	Username string // "" for no authentication
	Password string // from the environment, never from a file
	From     string // the sender's address
	FromName string // its display name; "" for none
	// RootCAs verify the server's certificate; nil: the system's.
	RootCAs *x509.CertPool
	// Conns is how many connections are kept open. Default: 4.
	Conns int
	// Timeout bounds each exchange with the server. Default: 30s.
	Timeout time.Duration
}

// ParseURL reads the server from a URL: smtp://[user@]host[:587] for
// STARTTLS, smtps://[user@]host[:465] for implicit TLS, and
// smtp+plain://127.0.0.1:25 for a relay on the loopback interface.
// ?from=ADDRESS sets the sender, &name= its display name, &conns= how
// many connections are kept open (default 4). A password in the URL is refused: it
// would end up in a file or a shell history; it comes from the
// environment.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("smtp URL: %w", err)
	}
	var c Config
	port := ""
	switch u.Scheme {
	case "smtp":
		c.TLS, port = StartTLS, "587"
	case "smtps":
		c.TLS, port = Implicit, "465"
	case "smtp+plain":
		c.TLS, port = None, "25"
	default:
		return Config{}, fmt.Errorf("smtp URL: the scheme is smtp (STARTTLS), smtps (TLS) or smtp+plain (loopback only); not %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return Config{}, errors.New("smtp URL: no host")
	}
	if u.Port() != "" {
		port = u.Port()
	}
	c.Addr = net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		if _, set := u.User.Password(); set {
			return Config{}, errors.New("smtp URL: leave the password out of the URL and set SLOKEEPER_SMTP_PASSWORD")
		}
		c.Username = u.User.Username()
	}
	c.From = u.Query().Get("from")
	c.FromName = u.Query().Get("name")
	if v := u.Query().Get("conns"); v != "" {
		if c.Conns, err = strconv.Atoi(v); err != nil || c.Conns < 1 {
			return Config{}, fmt.Errorf("smtp URL: conns=%q is not a positive number of connections", v)
		}
	}
	if c.TLS == None && !loopback(u.Hostname()) {
		return Config{}, fmt.Errorf("smtp URL: smtp+plain sends mail unencrypted, which only a relay on this machine may get; %s is not a loopback address", u.Hostname())
	}
	return c, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func (c *Config) defaults() {
	if c.TLS == "" {
		c.TLS = StartTLS
	}
	if c.Conns <= 0 {
		c.Conns = 4
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
}

// Mail is one message to one recipient.
type Mail struct {
	To        string
	Lang      string // ja or en: the Content-Language
	Subject   string
	Body      string // plain text
	MessageID string // without the angle brackets; the same for every attempt
	Date      time.Time
	// Unsubscribe, if set, is the one-click unsubscribe URL (RFC 8058).
	Unsubscribe string
}

// Error is the server's refusal of a message.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("the mail server answered %d %s", e.Code, e.Msg) }

// Permanent reports whether the server refused for good (5xx): trying
// again would get the same answer.
func (e *Error) Permanent() bool { return e.Code >= 500 }

// ErrInDoubt: the message went to the server up to its last byte, and the
// connection failed before the server answered. The server may have it.
var ErrInDoubt = errors.New("the connection failed after the whole message was sent, before the server's answer")

// Mailer sends mail on a pool of connections. It is safe for concurrent
// use; at most Conns messages are under way at once.
type Mailer struct {
	cfg  Config
	slot chan struct{}
	mu   sync.Mutex
	idle []*conn
}

type conn struct {
	c    *gosmtp.Client
	used time.Time
}

// New returns a Mailer; it connects when the first message is sent.
func New(cfg Config) (*Mailer, error) {
	cfg.defaults()
	if _, err := netip.ParseAddrPort(cfg.Addr); err != nil {
		if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
			return nil, fmt.Errorf("smtp: address %q: %w", cfg.Addr, err)
		}
	}
	if cfg.From == "" {
		return nil, errors.New("smtp: no sender address (?from= in the URL, or mail_from)")
	}
	return &Mailer{cfg: cfg, slot: make(chan struct{}, cfg.Conns)}, nil
}

// Send sends m. handOver is called when the whole message but its final
// dot has gone to the server: the caller records, where every node sees
// it, that the message may be with the server from now on. If handOver
// fails (the caller lost its lease, or cannot record it), the connection
// is closed without the dot, the server keeps nothing, and Send returns
// handOver's error. If the message did not reach that point, nothing was
// sent and handOver is not called. After the dot, a connection failure
// without an answer is ErrInDoubt; a refusal is an *Error either way.
func (ml *Mailer) Send(ctx context.Context, m *Mail, handOver func() error) error {
	select {
	case ml.slot <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-ml.slot }()
	msg, err := ml.message(m)
	if err != nil {
		return err
	}
	c, err := ml.get(ctx)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if ok {
			ml.put(c)
		} else {
			c.c.Close()
		}
	}()
	deadline := time.Now().Add(ml.cfg.Timeout)
	if d, set := ctx.Deadline(); set && d.Before(deadline) {
		deadline = d
	}
	if err := c.c.UpdateDeadline(time.Until(deadline)); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := c.c.Mail(ml.cfg.From); err != nil {
		return serverError(err)
	}
	if err := c.c.Rcpt(m.To); err != nil {
		err = serverError(err)
		if isServerError(err) && c.c.Reset() == nil {
			ok = true // the connection is fine; the recipient is not
		}
		return err
	}
	w, err := c.c.Data()
	if err != nil {
		return serverError(err)
	}
	dc, _ := w.(*gosmtp.DataCloser)
	if dc == nil {
		return errors.New("smtp: unexpected DATA writer")
	}
	if _, err := msg.WriteTo(dc); err != nil {
		return fmt.Errorf("smtp: writing the message: %w", err)
	}
	// The caller records the handover before the final dot: from the dot
	// on the server may take the message, so a sender that cannot record
	// it (or may no longer send it) must not write the dot. The
	// connection is then closed (ok is false) and the server drops what
	// it got.
	if err := handOver(); err != nil {
		return fmt.Errorf("smtp: the message was not handed over: %w", err)
	}
	// The final dot, flushed to the connection, without waiting for the
	// answer (DataCloser.Close would do both).
	if err := dc.WriteCloser.Close(); err != nil {
		return fmt.Errorf("%w: writing the final dot: %v", ErrInDoubt, err)
	}
	if _, _, err := c.c.Text.ReadResponse(250); err != nil {
		se := serverError(err)
		if isServerError(se) {
			ok = true
			return se
		}
		return fmt.Errorf("%w: %v", ErrInDoubt, err)
	}
	ok = true
	c.used = time.Now()
	return nil
}

func isServerError(err error) bool {
	var se *Error
	return errors.As(err, &se)
}

// serverError turns an SMTP reply into *Error; other errors (the
// connection) stay as they are.
func serverError(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return &Error{Code: te.Code, Msg: te.Msg}
	}
	return fmt.Errorf("smtp: %w", err)
}

func (ml *Mailer) message(m *Mail) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithCharset(gomail.CharsetUTF8), gomail.WithEncoding(gomail.EncodingB64), gomail.WithNoDefaultUserAgent())
	var err error
	if ml.cfg.FromName != "" {
		err = msg.FromFormat(ml.cfg.FromName, ml.cfg.From)
	} else {
		err = msg.From(ml.cfg.From)
	}
	if err != nil {
		return nil, fmt.Errorf("smtp: sender %q: %w", ml.cfg.From, err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, &Error{Code: 550, Msg: fmt.Sprintf("not an address: %q", m.To)}
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.MessageID)
	msg.SetDateWithValue(m.Date)
	// RFC 3834: an automatic message; auto-responders leave it alone.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	msg.SetGenHeader(gomail.HeaderContentLang, m.Lang)
	if m.Unsubscribe != "" {
		// RFC 2369 and RFC 8058: mail clients offer "unsubscribe", and
		// one POST of List-Unsubscribe=One-Click to the URL does it.
		msg.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribe, "<"+m.Unsubscribe+">")
		msg.SetGenHeader(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Body)
	return msg, nil
}

// get returns an open connection: an idle one that still answers, or a
// new one.
func (ml *Mailer) get(ctx context.Context) (*conn, error) {
	for {
		ml.mu.Lock()
		if len(ml.idle) == 0 {
			ml.mu.Unlock()
			return ml.dial(ctx)
		}
		c := ml.idle[len(ml.idle)-1]
		ml.idle = ml.idle[:len(ml.idle)-1]
		ml.mu.Unlock()
		// A connection idle for a while may have been closed by the
		// server: ask before trusting it with a message.
		if time.Since(c.used) < 10*time.Second {
			return c, nil
		}
		if err := c.c.UpdateDeadline(ml.cfg.Timeout); err == nil {
			if err := c.c.Noop(); err == nil {
				return c, nil
			}
		}
		c.c.Close()
	}
}

func (ml *Mailer) put(c *conn) {
	ml.mu.Lock()
	defer ml.mu.Unlock()
	ml.idle = append(ml.idle, c)
}

func (ml *Mailer) dial(ctx context.Context) (*conn, error) {
	host, _, _ := net.SplitHostPort(ml.cfg.Addr)
	tlsConfig := &tls.Config{ServerName: host, RootCAs: ml.cfg.RootCAs, MinVersion: tls.VersionTLS12}
	d := &net.Dialer{Timeout: ml.cfg.Timeout}
	var nc net.Conn
	var err error
	if ml.cfg.TLS == Implicit {
		nc, err = (&tls.Dialer{NetDialer: d, Config: tlsConfig}).DialContext(ctx, "tcp", ml.cfg.Addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", ml.cfg.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	nc.SetDeadline(time.Now().Add(ml.cfg.Timeout))
	c, err := gosmtp.NewClient(nc, host)
	if err != nil {
		nc.Close()
		return nil, serverError(err)
	}
	fail := func(err error) (*conn, error) {
		c.Close()
		return nil, err
	}
	if err := c.Hello("localhost"); err != nil {
		return fail(serverError(err))
	}
	if ml.cfg.TLS == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fail(fmt.Errorf("smtp: %s does not offer STARTTLS, and mail is only sent encrypted", ml.cfg.Addr))
		}
		if err := c.StartTLS(tlsConfig); err != nil {
			return fail(fmt.Errorf("smtp: STARTTLS: %w", err))
		}
	}
	if ml.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fail(fmt.Errorf("smtp: %s does not offer AUTH", ml.cfg.Addr))
		}
		// The connection is encrypted, or on the loopback interface.
		if err := c.Auth(gosmtp.PlainAuth("", ml.cfg.Username, ml.cfg.Password, host, ml.cfg.TLS == None)); err != nil {
			return fail(fmt.Errorf("smtp: sign-in as %s: %w", ml.cfg.Username, serverError(err)))
		}
	}
	return &conn{c: c, used: time.Now()}, nil
}

// Close says goodbye on the idle connections.
func (ml *Mailer) Close() error {
	ml.mu.Lock()
	idle := ml.idle
	ml.idle = nil
	ml.mu.Unlock()
	for _, c := range idle {
		c.c.UpdateDeadline(5 * time.Second)
		c.c.Quit()
		c.c.Close()
	}
	return nil
}

// Describe names the server for logs.
func (c Config) Describe() string {
	s := c.TLS + "://" + c.Addr
	if c.Username != "" {
		s = c.TLS + "://" + c.Username + "@" + c.Addr
	}
	return strings.TrimSpace(s)
}
