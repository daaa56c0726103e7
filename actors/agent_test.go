package actors_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"

	"liveroom/access"
	"liveroom/actors"
	"liveroom/actors/room"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// addAgent writes an account the way `liveroom admin agent add` does.
func addAgent(tb testing.TB, n *testNode, id, name, email, password string) {
	tb.Helper()
	hash, _ := bcrypt.GenerateFromPassword([]byte(password), 4)
	raw, _ := proto.Marshal(&pb.AgentRecord{Id: id, Name: name, Email: email, PasswordHash: string(hash)})
	if err := n.store.Set(persistence.AgentKey(id), raw); err != nil {
		tb.Fatal(err)
	}
}

func ask[T any](tb testing.TB, n *testNode, agentID string, msg interface{}) T {
	tb.Helper()
	res, err := actors.AskAgent[T](context.Background(), n.Node, agentID, msg)
	if err != nil {
		tb.Fatalf("ask %T: %v", msg, err)
	}
	return res
}

func mustOK(tb testing.TB, r *pb.AgentReply) {
	tb.Helper()
	if r.Error != nil {
		tb.Fatalf("refused: %v", r.Error)
	}
}

// sink stands in for a visitor or agent-page socket's session actor.
type sink struct {
	tb  testing.TB
	pid *actor.PID
	ch  chan proto.Message
}

func newSink(tb testing.TB, n *testNode) *sink {
	s := &sink{tb: tb, ch: make(chan proto.Message, 1000)}
	s.pid = n.System.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *pb.VisitorServerFrame, *pb.AgentServerFrame:
			s.ch <- m.(proto.Message)
		}
	}))
	return s
}

func (s *sink) next() proto.Message {
	s.tb.Helper()
	select {
	case m := <-s.ch:
		return m
	case <-time.After(30 * time.Second): // generous: -race on a busy machine
		s.tb.Fatal("no frame within 30s")
		return nil
	}
}

// visitorFrame waits for the next visitor frame that has body type B.
func nextVisitor[B any](s *sink, get func(*pb.VisitorServerFrame) B) B {
	s.tb.Helper()
	var zero B
	for {
		f, ok := s.next().(*pb.VisitorServerFrame)
		if !ok {
			continue
		}
		if b := get(f); any(b) != any(zero) {
			return b
		}
	}
}

func nextAgent[B comparable](s *sink, get func(*pb.AgentServerFrame) B) B {
	s.tb.Helper()
	var zero B
	for {
		f, ok := s.next().(*pb.AgentServerFrame)
		if !ok {
			continue
		}
		if b := get(f); b != zero {
			return b
		}
	}
}

func (s *sink) quiet(d time.Duration) {
	s.tb.Helper()
	select {
	case m := <-s.ch:
		s.tb.Fatalf("unexpected frame %v", m)
	case <-time.After(d):
	}
}

func login(tb testing.TB, n *testNode, agentID, password string) []byte {
	tb.Helper()
	r := ask[*pb.AgentLoginResult](tb, n, agentID, &pb.AgentLogin{Password: password})
	if r.Error != nil || r.Token == "" {
		tb.Fatalf("login: %v", r.Error)
	}
	return access.Hash(r.Token)
}

func TestAgentLoginSessionsLockoutAndRestart(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, room.Settings{})
	addAgent(t, n, "alice", "Alice", "alice@example.com", "correct horse")

	if r := ask[*pb.AgentLoginResult](t, n, "alice", &pb.AgentLogin{Password: "wrong"}); r.GetError().GetCode() != "wrong_login" {
		t.Fatalf("wrong password: %v", r)
	}
	if r := ask[*pb.AgentLoginResult](t, n, "nobody", &pb.AgentLogin{Password: "x"}); r.GetError().GetCode() != "wrong_login" {
		t.Fatalf("unknown agent must look like a wrong password: %v", r)
	}
	hash := login(t, n, "alice", "correct horse")
	who := ask[*pb.AgentWho](t, n, "alice", &pb.AgentCheckSession{SessionHash: hash})
	if who.Error != nil || who.Name != "Alice" || who.Email != "alice@example.com" {
		t.Fatalf("check session: %v", who)
	}
	if w := ask[*pb.AgentWho](t, n, "alice", &pb.AgentCheckSession{SessionHash: access.Hash("forged")}); w.GetError().GetCode() != "unauthorized" {
		t.Fatalf("forged session: %v", w)
	}

	// Five failures lock the account, even for the right password.
	for i := 0; i < 4; i++ {
		if r := ask[*pb.AgentLoginResult](t, n, "alice", &pb.AgentLogin{Password: "guess"}); r.GetError().GetCode() != "wrong_login" {
			t.Fatalf("failure %d: %v", i+1, r)
		}
	}
	if r := ask[*pb.AgentLoginResult](t, n, "alice", &pb.AgentLogin{Password: "guess"}); r.GetError().GetCode() != "account_locked" {
		t.Fatalf("fifth failure: %v", r)
	}
	if r := ask[*pb.AgentLoginResult](t, n, "alice", &pb.AgentLogin{Password: "correct horse"}); r.GetError().GetCode() != "account_locked" {
		t.Fatalf("right password while locked: %v", r)
	}
	// The session from before still works, and survives a restart.
	n.stop()
	n = startNode(t, dir, room.Settings{})
	if w := ask[*pb.AgentWho](t, n, "alice", &pb.AgentCheckSession{SessionHash: hash}); w.Error != nil {
		t.Fatalf("session after restart: %v", w.Error)
	}
	mustOK(t, ask[*pb.AgentReply](t, n, "alice", &pb.AgentLogout{SessionHash: hash}))
	if w := ask[*pb.AgentWho](t, n, "alice", &pb.AgentCheckSession{SessionHash: hash}); w.GetError().GetCode() != "unauthorized" {
		t.Fatalf("session after logout: %v", w)
	}
}

func TestPresenceRequestAcceptAndOffline(t *testing.T) {
	n := startNode(t, t.TempDir(), room.Settings{})
	addAgent(t, n, "alice", "Alice", "", "pw-pw-pw-pw")
	hash := login(t, n, "alice", "pw-pw-pw-pw")

	// A visitor arrives while no agent page is open.
	vis := newSink(t, n)
	mustOK(t, ask[*pb.AgentReply](t, n, "alice", &pb.AgentVisitorHello{Session: vis.pid, FrameId: "h",
		Origin: "http://shop.example", Hello: &pb.VisitorHello{AgentId: "alice", PageUrl: "http://shop.example/cart?x=1",
			PageTitle: "Cart\x00", Name: "Vera"}}))
	if p := nextVisitor(vis, (*pb.VisitorServerFrame).GetPresence); p.Presence != pb.Presence_PRESENCE_OFFLINE {
		t.Fatalf("presence before agent: %v", p)
	}
	if r := ask[*pb.AgentReply](t, n, "alice", &pb.AgentVisitorCall{Session: vis.pid, Call: &pb.VisitorCall{Kind: pb.CallKind_CALL_KIND_VIDEO}}); r.GetError().GetCode() != "agent_offline" {
		t.Fatalf("call while offline: %v", r)
	}

	// A page without a valid session cannot attach.
	page := newSink(t, n)
	if r := ask[*pb.AgentReply](t, n, "alice", &pb.AgentAttach{Session: page.pid, SessionHash: access.Hash("nope")}); r.GetError().GetCode() != "unauthorized" {
		t.Fatalf("attach without login: %v", r)
	}
	mustOK(t, ask[*pb.AgentReply](t, n, "alice", &pb.AgentAttach{Session: page.pid, SessionHash: hash, FrameId: "w", Watch: &pb.AgentWatch{}}))
	snap := nextAgent(page, (*pb.AgentServerFrame).GetSnapshot)
	if len(snap.Visitors) != 1 || snap.Visitors[0].PageUrl != "http://shop.example/cart?x=1" ||
		snap.Visitors[0].PageTitle != "Cart" || snap.Visitors[0].Name != "Vera" || snap.Visitors[0].SinceMs == 0 {
		t.Fatalf("snapshot: %v", snap)
	}
	if p := nextVisitor(vis, (*pb.VisitorServerFrame).GetPresence); p.Presence != pb.Presence_PRESENCE_ONLINE {
		t.Fatalf("presence after agent came: %v", p)
	}

	// Away and back.
	mustOK(t, ask[*pb.AgentReply](t, n, "alice", &pb.AgentSocketAway{Session: page.pid, Away: true}))
	if p := nextVisitor(vis, (*pb.VisitorServerFrame).GetPresence); p.Presence != pb.Presence_PRESENCE_AWAY {
		t.Fatalf("presence when away: %v", p)
	}
	mustOK(t, ask[*pb.AgentReply](t, n, "alice", &pb.AgentSocketAway{Session: page.pid, Away: false}))
	nextVisitor(vis, (*pb.VisitorServerFrame).GetPresence)

	// The visitor asks; the agent page hears of it; the agent accepts.
	mustOK(t, ask[*pb.AgentReply](t, n, "alice", &pb.AgentVisitorCall{Session: vis.pid, FrameId: "c",
		Call: &pb.VisitorCall{Kind: pb.CallKind_CALL_KIND_VIDEO}}))
	q := nextVisitor(vis, (*pb.VisitorServerFrame).GetQueued)
	if q.Position != 1 {
		t.Fatalf("queued: %v", q)
	}
	if r := ask[*pb.AgentReply](t, n, "alice", &pb.AgentVisitorCall{Session: vis.pid}); r.GetError().GetCode() != "already_requested" {
		t.Fatalf("second request: %v", r)
	}
	req := nextAgent(page, (*pb.AgentServerFrame).GetRequest)
	if req.Kind != pb.CallKind_CALL_KIND_VIDEO || req.Name != "Vera" || req.RequestId != q.RequestId {
		t.Fatalf("request at agent: %v", req)
	}
	mustOK(t, ask[*pb.AgentReply](t, n, "alice", &pb.AgentSocketAnswer{Session: page.pid, FrameId: "a",
		Answer: &pb.AgentAnswer{RequestId: req.RequestId, Accept: true}}))
	acc := nextVisitor(vis, (*pb.VisitorServerFrame).GetAccepted)
	ans := nextAgent(page, (*pb.AgentServerFrame).GetAnswered)
	// A video request: both links say so, and the room pages start the call.
	if acc.RoomPath != "/room/"+acc.RoomId+"#call=video" || ans.RoomId != acc.RoomId || ans.VisitorPath != acc.RoomPath ||
		!strings.HasSuffix(ans.AgentPath, "&call=video") {
		t.Fatalf("accepted %v answered %v", acc, ans)
	}
	// The agent link really is the agent's; the room is the agent's, with the visitor's name.
	key := strings.TrimSuffix(ans.AgentPath[len("/room/"+ans.RoomId+"#agent="):], "&call=video")
	agentClient := newClient(t, n)
	j := mustJoin(t, n, agentClient, &pb.JoinRequest{RoomId: ans.RoomId, Name: "Alice", AgentKey: key})
	if j.Role != pb.Role_ROLE_AGENT || j.Room.VisitorName != "Vera" {
		t.Fatalf("agent joined: %v", j)
	}
	list := ask[*pb.AgentRoomList](t, n, "alice", &pb.AgentListRooms{})
	if len(list.Rooms) != 1 || list.Rooms[0].Room.Id != ans.RoomId {
		t.Fatalf("room list: %v", list)
	}
	// A second answer to the same request is refused.
	if r := ask[*pb.AgentReply](t, n, "alice", &pb.AgentSocketAnswer{Session: page.pid,
		Answer: &pb.AgentAnswer{RequestId: req.RequestId, Accept: true}}); r.GetError().GetCode() != "request_gone" {
		t.Fatalf("second accept: %v", r)
	}

	// The agent page closes: the visitor hears "offline" at once.
	start := time.Now()
	n.System.Root.Stop(page.pid)
	if p := nextVisitor(vis, (*pb.VisitorServerFrame).GetPresence); p.Presence != pb.Presence_PRESENCE_OFFLINE {
		t.Fatalf("presence after the page closed: %v", p)
	}
	t.Logf("offline reached the visitor %v after the agent page closed", time.Since(start))
}

func TestDeclineCancelLeaveAndScopes(t *testing.T) {
	n := startNode(t, t.TempDir(), room.Settings{})
	addAgent(t, n, "bob", "Bob", "", "pw-pw-pw-pw")
	hash := login(t, n, "bob", "pw-pw-pw-pw")
	res := ask[*pb.AgentRoomResult](t, n, "bob", &pb.AgentCreateRoom{Room: &pb.CreateRoom{Id: "sales", ShortName: "talk-to-sales"}})
	if res.Error != nil || res.Room.AgentKey == "" || res.Room.Room.AgentName != "Bob" {
		t.Fatalf("create room: %v", res)
	}
	if r := ask[*pb.AgentRoomResult](t, n, "bob", &pb.AgentCreateRoom{Room: &pb.CreateRoom{Id: "other", ShortName: "talk-to-sales"}}); r.GetError().GetCode() != "short_name_taken" {
		t.Fatalf("short name twice: %v", r)
	}
	if r := ask[*pb.AgentRoomResult](t, n, "bob", &pb.AgentCreateRoom{Room: &pb.CreateRoom{Id: "sales"}}); r.GetError().GetCode() != "room_exists" {
		t.Fatalf("room twice: %v", r)
	}
	if s, err := n.ResolveShort(context.Background(), "talk-to-sales"); err != nil || s.GetRecord().GetRoomId() != "sales" {
		t.Fatalf("resolve: %v %v", s, err)
	}

	// One page watches only "sales", one visitor is on the sales button, one
	// on the general button.
	salesPage := newSink(t, n)
	mustOK(t, ask[*pb.AgentReply](t, n, "bob", &pb.AgentAttach{Session: salesPage.pid, SessionHash: hash, Watch: &pb.AgentWatch{RoomId: "sales"}}))
	nextAgent(salesPage, (*pb.AgentServerFrame).GetSnapshot)
	if r := ask[*pb.AgentReply](t, n, "bob", &pb.AgentAttach{Session: newSink(t, n).pid, SessionHash: hash, Watch: &pb.AgentWatch{RoomId: "not-mine"}}); r.GetError().GetCode() != "room_not_found" {
		t.Fatalf("watch a foreign room: %v", r)
	}
	general, sales := newSink(t, n), newSink(t, n)
	mustOK(t, ask[*pb.AgentReply](t, n, "bob", &pb.AgentVisitorHello{Session: general.pid, Hello: &pb.VisitorHello{AgentId: "bob"}}))
	mustOK(t, ask[*pb.AgentReply](t, n, "bob", &pb.AgentVisitorHello{Session: sales.pid, Hello: &pb.VisitorHello{AgentId: "bob", RoomId: "sales"}}))
	if p := nextVisitor(general, (*pb.VisitorServerFrame).GetPresence); p.Presence != pb.Presence_PRESENCE_OFFLINE {
		t.Fatalf("general button with only a sales page: %v", p)
	}
	if p := nextVisitor(sales, (*pb.VisitorServerFrame).GetPresence); p.Presence != pb.Presence_PRESENCE_ONLINE {
		t.Fatalf("sales button: %v", p)
	}
	if v := nextAgent(salesPage, (*pb.AgentServerFrame).GetVisitor); v.RoomId != "sales" {
		t.Fatalf("sales page saw %v", v)
	}
	if r := ask[*pb.AgentReply](t, n, "bob", &pb.AgentVisitorHello{Session: newSink(t, n).pid, Hello: &pb.VisitorHello{AgentId: "bob", RoomId: "nope"}}); r.GetError().GetCode() != "room_not_found" {
		t.Fatalf("button for an unknown room: %v", r)
	}

	// Decline.
	mustOK(t, ask[*pb.AgentReply](t, n, "bob", &pb.AgentVisitorCall{Session: sales.pid}))
	req := nextAgent(salesPage, (*pb.AgentServerFrame).GetRequest)
	mustOK(t, ask[*pb.AgentReply](t, n, "bob", &pb.AgentSocketAnswer{Session: salesPage.pid, Answer: &pb.AgentAnswer{RequestId: req.RequestId}}))
	if d := nextVisitor(sales, (*pb.VisitorServerFrame).GetDeclined); d.RequestId != req.RequestId || d.Message == "" {
		t.Fatalf("declined: %v", d)
	}
	if d := nextAgent(salesPage, (*pb.AgentServerFrame).GetRequestDone); d.Reason != "declined" {
		t.Fatalf("done: %v", d)
	}
	// Cancel.
	mustOK(t, ask[*pb.AgentReply](t, n, "bob", &pb.AgentVisitorCall{Session: sales.pid}))
	nextAgent(salesPage, (*pb.AgentServerFrame).GetRequest)
	mustOK(t, ask[*pb.AgentReply](t, n, "bob", &pb.AgentVisitorCancel{Session: sales.pid}))
	if d := nextAgent(salesPage, (*pb.AgentServerFrame).GetRequestDone); d.Reason != "cancelled" {
		t.Fatalf("done: %v", d)
	}
	// Accept into the scoped room: no new room is made.
	mustOK(t, ask[*pb.AgentReply](t, n, "bob", &pb.AgentVisitorCall{Session: sales.pid}))
	req = nextAgent(salesPage, (*pb.AgentServerFrame).GetRequest)
	mustOK(t, ask[*pb.AgentReply](t, n, "bob", &pb.AgentSocketAnswer{Session: salesPage.pid, Answer: &pb.AgentAnswer{RequestId: req.RequestId, Accept: true}}))
	if a := nextVisitor(sales, (*pb.VisitorServerFrame).GetAccepted); a.RoomId != "sales" {
		t.Fatalf("accepted into %v", a)
	}
	if a := nextAgent(salesPage, (*pb.AgentServerFrame).GetAnswered); a.AgentPath != "/room/sales#agent="+res.Room.AgentKey {
		t.Fatalf("answered %v", a)
	}
	// A visitor who leaves while waiting takes the request along.
	mustOK(t, ask[*pb.AgentReply](t, n, "bob", &pb.AgentVisitorCall{Session: sales.pid}))
	nextAgent(salesPage, (*pb.AgentServerFrame).GetRequest)
	n.System.Root.Stop(sales.pid)
	if d := nextAgent(salesPage, (*pb.AgentServerFrame).GetRequestDone); d.Reason != "left" {
		t.Fatalf("done: %v", d)
	}
	nextAgent(salesPage, (*pb.AgentServerFrame).GetVisitorLeft)

	// Deleting the room frees its short name and drops it from the list.
	mustOK(t, ask[*pb.AgentReply](t, n, "bob", &pb.AgentDeleteRoom{RoomId: "sales"}))
	if s, _ := n.ResolveShort(context.Background(), "talk-to-sales"); s.GetError().GetCode() != "not_found" {
		t.Fatalf("short name after delete: %v", s)
	}
	if info, _ := n.RoomInfo(context.Background(), "sales"); info.GetError().GetCode() != "room_not_found" {
		t.Fatalf("room after delete: %v", info)
	}
	if l := ask[*pb.AgentRoomList](t, n, "bob", &pb.AgentListRooms{}); len(l.Rooms) != 0 {
		t.Fatalf("list after delete: %v", l)
	}
	if r := ask[*pb.AgentReply](t, n, "bob", &pb.AgentDeleteRoom{RoomId: "sales"}); r.GetError().GetCode() != "room_not_found" {
		t.Fatalf("second delete: %v", r)
	}
}

func TestScheduledRoomEntryFormAndOwnedList(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, room.Settings{})
	addAgent(t, n, "cat", "Cat", "cat@example.com", "pw-pw-pw-pw")
	now := time.Now()
	form := &pb.EntryForm{Enabled: true, Required: true, ShowEmail: true, ShowAvatar: true}
	for _, c := range []*pb.CreateRoom{
		{Id: "later", StartsAtMs: now.Add(time.Hour).UnixMilli(), EndsAtMs: now.Add(2 * time.Hour).UnixMilli()},
		{Id: "over", StartsAtMs: now.Add(-2 * time.Hour).UnixMilli(), EndsAtMs: now.Add(-time.Hour).UnixMilli()},
		{Id: "form", EntryForm: form},
	} {
		if r := ask[*pb.AgentRoomResult](t, n, "cat", &pb.AgentCreateRoom{Room: c}); r.Error != nil {
			t.Fatalf("create %s: %v", c.Id, r.Error)
		}
	}
	if r := ask[*pb.AgentRoomResult](t, n, "cat", &pb.AgentCreateRoom{Room: &pb.CreateRoom{Id: "bad", StartsAtMs: 5000, EndsAtMs: 4000}}); r.GetError().GetCode() != "invalid" {
		t.Fatalf("window ending before it starts: %v", r)
	}
	for id, code := range map[string]string{"later": "room_not_open", "over": "room_closed"} {
		if e := join(t, n, newClient(t, n), &pb.JoinRequest{RoomId: id, Name: "V"}); e.GetCode() != code {
			t.Fatalf("join %s: %v, want %s", id, e, code)
		}
	}
	// The agent may come early.
	key := ask[*pb.AgentRoomResult](t, n, "cat", &pb.AgentGetRoom{RoomId: "later"}).Room.AgentKey
	mustJoin(t, n, newClient(t, n), &pb.JoinRequest{RoomId: "later", Name: "Cat", AgentKey: key})

	// Required entry form: each missing field blocks; bad values are refused.
	for _, tc := range []struct {
		req  *pb.JoinRequest
		code string
	}{
		{&pb.JoinRequest{RoomId: "form", Name: "V"}, "entry_required"},
		{&pb.JoinRequest{RoomId: "form", Name: "V", Email: "v@example.com"}, "entry_required"},
		{&pb.JoinRequest{RoomId: "form", Name: "V", Email: "not an email", AvatarUrl: "https://x.example/a.png"}, "invalid"},
		{&pb.JoinRequest{RoomId: "form", Name: "V", Email: "v@example.com", AvatarUrl: "javascript:alert(1)"}, "invalid"},
	} {
		if e := join(t, n, newClient(t, n), tc.req); e.GetCode() != tc.code {
			t.Fatalf("join %v: %v, want %s", tc.req, e, tc.code)
		}
	}
	formKey := ask[*pb.AgentRoomResult](t, n, "cat", &pb.AgentGetRoom{RoomId: "form"}).Room.AgentKey
	agentC := newClient(t, n)
	mustJoin(t, n, agentC, &pb.JoinRequest{RoomId: "form", Name: "Cat", AgentKey: formKey})
	v1 := newClient(t, n)
	mustJoin(t, n, v1, &pb.JoinRequest{RoomId: "form", Name: "Vi", Email: "vi@example.com", AvatarUrl: "https://x.example/vi.png"})
	// The agent sees the email; a second visitor does not.
	if m := agentC.next().GetMember().GetMember(); m.Email != "vi@example.com" || m.AvatarUrl != "https://x.example/vi.png" {
		t.Fatalf("agent sees %v", m)
	}
	j2 := mustJoin(t, n, newClient(t, n), &pb.JoinRequest{RoomId: "form", Name: "Wu", Email: "wu@example.com", AvatarUrl: "http://x.example/wu.png"})
	for _, m := range j2.Members {
		if m.Role == pb.Role_ROLE_VISITOR && m.Name == "Vi" && (m.Email != "" || m.AvatarUrl == "") {
			t.Fatalf("second visitor sees %v", m)
		}
	}
	if m := v1.next().GetMember().GetMember(); m.Name != "Wu" || m.Email != "" {
		t.Fatalf("first visitor sees %v", m)
	}
	// The entries are stored with the room and listed for its owner, also after a restart.
	n.stop()
	n = startNode(t, dir, room.Settings{})
	e := ask[*pb.AgentEntryList](t, n, "cat", &pb.AgentListEntries{RoomId: "form"})
	if e.Error != nil || len(e.Entries) != 2 {
		t.Fatalf("entries: %v", e)
	}
	if l := ask[*pb.AgentRoomList](t, n, "cat", &pb.AgentListRooms{}); len(l.Rooms) != 3 {
		t.Fatalf("rooms after restart: %d", len(l.Rooms))
	}
	if e := ask[*pb.AgentEntryList](t, n, "other", &pb.AgentListEntries{RoomId: "form"}); e.Error == nil {
		t.Fatal("another agent listed the entries")
	}
}

func TestOfflineMessagesAreKept(t *testing.T) {
	n := startNode(t, t.TempDir(), room.Settings{})
	addAgent(t, n, "dan", "Dan", "dan@example.com", "pw-pw-pw-pw")
	msg := &pb.OfflineMessage{Name: "Vera", Email: "vera@example.org", Text: "  Please call me back.  ", PageUrl: "https://shop.example/"}
	if r := ask[*pb.AgentOfflineResult](t, n, "dan", &pb.AgentStoreOffline{Message: msg, To: "spam-target@example.net"}); r.GetError().GetCode() != "offline_email_mismatch" {
		t.Fatalf("foreign address: %v", r)
	}
	bad := proto.Clone(msg).(*pb.OfflineMessage)
	bad.Email = "vera@example.org\r\nBcc: x@y"
	if r := ask[*pb.AgentOfflineResult](t, n, "dan", &pb.AgentStoreOffline{Message: bad}); r.GetError().GetCode() != "invalid" {
		t.Fatalf("header injection: %v", r)
	}
	r := ask[*pb.AgentOfflineResult](t, n, "dan", &pb.AgentStoreOffline{Message: msg, To: "Dan@Example.com"})
	if r.Error != nil || r.MailTo != "dan@example.com" || r.Message.Text != "Please call me back." || r.Message.Mailed {
		t.Fatalf("store: %v", r)
	}
	time.Sleep(2 * time.Millisecond)
	r2 := ask[*pb.AgentOfflineResult](t, n, "dan", &pb.AgentStoreOffline{Message: msg})
	mustOK(t, ask[*pb.AgentReply](t, n, "dan", &pb.AgentMarkMailed{Id: r2.Message.Id, Mailed: true}))
	l := ask[*pb.AgentOfflineList](t, n, "dan", &pb.AgentListOffline{})
	if len(l.Messages) != 2 || l.Messages[0].Id != r2.Message.Id || !l.Messages[0].Mailed || l.Messages[1].Mailed {
		t.Fatalf("list (newest first): %v", l)
	}
	mustOK(t, ask[*pb.AgentReply](t, n, "dan", &pb.AgentDeleteOffline{Id: r.Message.Id}))
	if l := ask[*pb.AgentOfflineList](t, n, "dan", &pb.AgentListOffline{}); len(l.Messages) != 1 {
		t.Fatalf("after delete: %v", l)
	}
	if r := ask[*pb.AgentOfflineResult](t, n, "ghost", &pb.AgentStoreOffline{Message: msg}); r.GetError().GetCode() != "agent_not_found" {
		t.Fatalf("unknown agent: %v", r)
	}
}
