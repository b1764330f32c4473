// Package mailtest runs a real SMTP server (emersion/go-smtp) on the
// loopback interface for tests: STARTTLS with its own certificate, AUTH
// PLAIN, and every message it accepts kept, decoded, for the test to read.
// Nothing here stands in for SMTP: clients speak the whole protocol to it.
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	From, To string
	Raw      []byte
	Header   mail.Header
	Subject  string // decoded
	Body     string // decoded
	TLS      bool   // it came over an encrypted connection
}

// Server is a running SMTP server.
type Server struct {
	Addr     string // host:port
	Username string
	Password string

	refuse func(to string) error
	hooks  Hooks
	delay  time.Duration
	pem    []byte
	srv    *smtp.Server
	pool   *x509.CertPool
	mu     sync.Mutex
	msgs   []Message
}

// Start starts a server on 127.0.0.1 and stops it when tb ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	cert, pool, pemCert, err := selfSigned()
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Username: "status", Password: "mail-" + rand.Text(), pool: pool, pem: pemCert}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{s: s, c: c}, nil }))
	s.srv.Domain = "mail.test"
	s.srv.ErrorLog = log.New(io.Discard, "", 0) // clients that vanish are what the crash tests do
	s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.srv.ReadTimeout, s.srv.WriteTimeout = time.Minute, time.Minute
	s.srv.MaxMessageBytes = 1 << 20
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.Addr = l.Addr().String()
	go s.srv.Serve(l)
	tb.Cleanup(func() { s.srv.Close() })
	return s
}

// Refuse makes the server answer recipients with what f returns (an
// *smtp.SMTPError to choose the code; nil to accept). nil f accepts all.
func (s *Server) Refuse(f func(to string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = f
}

// Hooks are called as the server works, for tests that act at a precise
// moment of a client's delivery (killing it, say).
type Hooks struct {
	// Mail is called when a client starts a message (MAIL FROM), with
	// how many messages the server has accepted so far.
	Mail func(accepted int)
	// Data is called when a message has arrived whole, before the server
	// answers, with how many were accepted before it.
	Data func(accepted int, m Message)
}

// Hook sets the hooks.
func (s *Server) Hook(h Hooks) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = h
}

// Delay makes the server wait d after it has read a whole message before
// it answers: a slow server, whose clients are often between their last
// byte and its answer.
func (s *Server) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// CertPEM is the server's certificate, for clients that read a CA file.
func (s *Server) CertPEM() []byte { return s.pem }

// CertPool trusts the server's certificate.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Messages returns what the server accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Count returns how many messages the server accepted.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

type session struct {
	s      *Server
	c      *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.Username || password != ss.s.Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "wrong user name or password"}
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.s.mu.Lock()
	hook, accepted := ss.s.hooks.Mail, len(ss.s.msgs)
	ss.s.mu.Unlock()
	if hook != nil {
		hook(accepted)
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	refuse := ss.s.refuse
	ss.s.mu.Unlock()
	if refuse != nil {
		if err := refuse(to); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

// Data keeps the message only when it arrived whole: a client that goes
// away before the final dot leaves nothing.
func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := ss.c.TLSConnectionState()
	m, err := decode(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "unreadable message: " + err.Error()}
	}
	m.From, m.TLS = ss.from, isTLS
	ss.s.mu.Lock()
	delay, hook, accepted := ss.s.delay, ss.s.hooks.Data, len(ss.s.msgs)
	ss.s.mu.Unlock()
	if hook != nil {
		hook(accepted, m)
	}
	if delay > 0 {
		time.Sleep(delay) // the server is slow to answer; the message is taken
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	for _, to := range ss.to {
		m.To = to
		ss.s.msgs = append(ss.s.msgs, m)
	}
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

func decode(raw []byte) (Message, error) {
	pm, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, err
	}
	body, err := io.ReadAll(pm.Body)
	if err != nil {
		return Message{}, err
	}
	switch strings.ToLower(pm.Header.Get("Content-Transfer-Encoding")) {
	case "base64":
		body, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(body)), ""))
	case "quoted-printable":
		body, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
	}
	if err != nil {
		return Message{}, err
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(pm.Header.Get("Subject"))
	if err != nil {
		return Message{}, err
	}
	return Message{Raw: raw, Header: pm.Header, Subject: subject, Body: strings.ReplaceAll(string(body), "\r\n", "\n")}, nil
}

func selfSigned() (tls.Certificate, *x509.CertPool, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailtest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool, pemCert, nil
}

// ErrTryLater is a temporary refusal for Refuse.
var ErrTryLater = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}

// ErrNoSuchUser is a permanent refusal for Refuse.
var ErrNoSuchUser = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
