// Package smtptest is a minimal SMTP receiver for tests: it accepts every
// mail on loopback and records the envelope and the DATA it was given.
package smtptest

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
)

// Mail is one received message.
type Mail struct {
	From string
	To   []string
	Data string // as sent, dot-unstuffed, CRLF line ends
}

// Server records mail until closed.
type Server struct {
	Addr string
	l    net.Listener
	mu   sync.Mutex
	mail []Mail
	got  chan struct{}
	wg   sync.WaitGroup
}

// Start listens on a free loopback port; the server stops at the end of the test.
func Start(t testing.TB) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: l.Addr().String(), l: l, got: make(chan struct{}, 100)}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Close stops listening; sessions in progress are cut.
func (s *Server) Close() {
	_ = s.l.Close()
	s.wg.Wait()
}

// Mails returns what was received so far.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mail...)
}

// Received is signalled once per message.
func (s *Server) Received() <-chan struct{} { return s.got }

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.session(c)
		}()
	}
}

func (s *Server) session(c net.Conn) {
	r := bufio.NewReader(c)
	say := func(line string) bool {
		_, err := c.Write([]byte(line + "\r\n"))
		return err == nil
	}
	if !say("220 smtptest ready") {
		return
	}
	var m Mail
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		arg := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			say("250-smtptest")
			say("250 8BITMIME")
		case strings.HasPrefix(cmd, "HELO"), cmd == "NOOP":
			say("250 ok")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			m = Mail{From: path(arg[len("MAIL FROM:"):])}
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			m.To = append(m.To, path(arg[len("RCPT TO:"):]))
			say("250 ok")
		case cmd == "DATA":
			say("354 go ahead")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			m.Data = b.String()
			s.mu.Lock()
			s.mail = append(s.mail, m)
			s.mu.Unlock()
			s.got <- struct{}{}
			say("250 queued")
		case cmd == "RSET":
			m = Mail{}
			say("250 ok")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("502 not implemented")
		}
	}
}

// path returns the address in "<addr> PARAM=..." of MAIL FROM and RCPT TO.
func path(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '>'); strings.HasPrefix(s, "<") && i > 0 {
		return s[1:i]
	}
	return strings.Fields(s + " ")[0]
}
