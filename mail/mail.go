// Package mail sends plain-text mail through one SMTP server: the offline
// form's messages to agents. It is a thin layer over net/smtp that adds what
// net/smtp lacks: a deadline on the whole exchange, implicit TLS, and a
// message builder that refuses header injection.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"
)

// Config says how to reach the SMTP server.
type Config struct {
	Addr     string // host:port; empty disables sending
	From     string
	Username string
	Password string
	// TLS is "starttls" (upgrade when offered), "tls" (implicit) or "none".
	TLS     string
	Timeout time.Duration
	// HelloName is sent with EHLO; "localhost" when empty.
	HelloName string
}

// Message is one mail to send.
type Message struct {
	To          string
	ReplyTo     string
	ReplyToName string
	Subject     string
	Body        string
}

// ErrDisabled is returned when no SMTP server is configured.
var ErrDisabled = errors.New("mail: no SMTP server configured")

// Sender sends mail with one configuration; it is safe for concurrent use.
type Sender struct{ cfg Config }

// NewSender returns a sender for cfg.
func NewSender(cfg Config) *Sender {
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.HelloName == "" {
		cfg.HelloName = "localhost"
	}
	return &Sender{cfg: cfg}
}

// Enabled reports whether an SMTP server is configured.
func (s *Sender) Enabled() bool { return s != nil && s.cfg.Addr != "" }

// Send delivers m, giving up after the configured timeout or when ctx ends.
func (s *Sender) Send(ctx context.Context, m Message) error {
	if !s.Enabled() {
		return ErrDisabled
	}
	raw, err := Build(s.cfg.From, m, time.Now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	host, _, err := net.SplitHostPort(s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("mail: smtp address: %w", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("mail: connect: %w", err)
	}
	// net/smtp has no timeouts of its own: one deadline covers the whole
	// exchange, and a cancelled ctx closes the connection.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if s.cfg.TLS == "tls" {
		tc := tls.Client(conn, &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return fmt.Errorf("mail: tls: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("mail: greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(s.cfg.HelloName); err != nil {
		return fmt.Errorf("mail: hello: %w", err)
	}
	if s.cfg.TLS == "starttls" {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
				return fmt.Errorf("mail: starttls: %w", err)
			}
		}
	}
	if s.cfg.Username != "" {
		// PlainAuth itself refuses to send the password unencrypted except
		// to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, host)); err != nil {
			return fmt.Errorf("mail: auth: %w", err)
		}
	}
	if err := c.Mail(s.cfg.From); err != nil {
		return fmt.Errorf("mail: sender refused: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("mail: recipient refused: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: data: %w", err)
	}
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("mail: data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail: not accepted: %w", err)
	}
	return c.Quit()
}

func plainAddress(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return fmt.Errorf("mail: %q is not a plain address", s)
	}
	return nil
}

// Build renders m as an RFC 5322 message with CRLF line ends, a UTF-8
// quoted-printable body, and encoded words for non-ASCII header text.
func Build(from string, m Message, now time.Time) ([]byte, error) {
	for _, a := range []string{from, m.To} {
		if err := plainAddress(a); err != nil {
			return nil, err
		}
	}
	if m.ReplyTo != "" {
		if err := plainAddress(m.ReplyTo); err != nil {
			return nil, err
		}
	}
	for _, v := range []string{m.Subject, m.ReplyToName} {
		if strings.ContainsAny(v, "\r\n") {
			return nil, errors.New("mail: line break in a header")
		}
	}
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	domain := from[strings.LastIndexByte(from, '@')+1:]
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", (&mail.Address{Name: "Liveroom", Address: from}).String())
	header("To", (&mail.Address{Address: m.To}).String())
	if m.ReplyTo != "" {
		header("Reply-To", (&mail.Address{Name: m.ReplyToName, Address: m.ReplyTo}).String())
	}
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(id)+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n")
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}
