package mail

import (
	"context"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"liveroom/internal/smtptest"
)

func TestSendDeliversToSMTPServer(t *testing.T) {
	srv := smtptest.Start(t)
	s := NewSender(Config{Addr: srv.Addr, From: "liveroom@example.com", TLS: "starttls", Timeout: 5 * time.Second})
	body := "Hello Dan,\n.\nA line that starts with a dot, and ünïcödé, and a long line " + strings.Repeat("x", 200)
	err := s.Send(context.Background(), Message{To: "dan@example.com", ReplyTo: "vera@example.org",
		ReplyToName: "Véra", Subject: "Offline message from Véra", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.Mails()
	if len(got) != 1 || got[0].From != "liveroom@example.com" || len(got[0].To) != 1 || got[0].To[0] != "dan@example.com" {
		t.Fatalf("envelope: %+v", got)
	}
	msg, err := mail.ReadMessage(strings.NewReader(got[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	replyTo, _ := mail.ParseAddress(msg.Header.Get("Reply-To"))
	if subject != "Offline message from Véra" || replyTo.Name != "Véra" || replyTo.Address != "vera@example.org" {
		t.Fatalf("headers: %v", msg.Header)
	}
	text, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if strings.ReplaceAll(string(text), "\r\n", "\n") != body+"\n" {
		t.Fatalf("body %q", text)
	}
}

func TestBuildRefusesHeaderInjection(t *testing.T) {
	for _, m := range []Message{
		{To: "a@example.com\r\nBcc: b@example.com", Subject: "x"},
		{To: "a@example.com", Subject: "x\r\nBcc: b@example.com"},
		{To: "a@example.com", ReplyTo: "Eve <e@example.com>", Subject: "x"},
		{To: "a@example.com", ReplyTo: "e@example.com", ReplyToName: "Eve\nBcc: b@example.com"},
	} {
		if _, err := Build("liveroom@example.com", m, time.Now()); err == nil {
			t.Errorf("Build accepted %+v", m)
		}
	}
}

func TestSendFailsFastWhenServerIsDownOrSilent(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	_ = l.Close()
	s := NewSender(Config{Addr: addr, From: "liveroom@example.com", Timeout: 2 * time.Second})
	start := time.Now()
	if err := s.Send(context.Background(), Message{To: "a@example.com", Subject: "x", Body: "y"}); err == nil {
		t.Fatal("sent to a closed port")
	}
	// A server that accepts but never speaks must not hang the sender.
	silent, _ := net.Listen("tcp", "127.0.0.1:0")
	defer silent.Close()
	go func() {
		c, err := silent.Accept()
		if err == nil {
			defer c.Close()
			time.Sleep(5 * time.Second)
		}
	}()
	s = NewSender(Config{Addr: silent.Addr().String(), From: "liveroom@example.com", Timeout: 300 * time.Millisecond})
	if err := s.Send(context.Background(), Message{To: "a@example.com", Subject: "x", Body: "y"}); err == nil {
		t.Fatal("sent to a silent server")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("failing took %v", took)
	}
	if (&Sender{}).Enabled() || NewSender(Config{}).Send(context.Background(), Message{}) != ErrDisabled {
		t.Fatal("a sender without address claims to be enabled")
	}
}
