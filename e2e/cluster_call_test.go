package e2e

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestClusterCallSurvivesKillOfRoomNode: an agent and a visitor are in a
// video call, each page on its own node, neither of them the node hosting
// the room (so the sockets survive; the call's media runs on the room's
// node). That node is killed with SIGKILL. Without anyone clicking, the room
// comes back on another node and both pages receive and decode each other's
// video again, through the new node's media.
func TestClusterCallSurvivesKillOfRoomNode(t *testing.T) {
	r := startCluster(t)
	room := "callkill"
	key := createRoomAt(t, r.proxyURL, room)
	host := r.roomHost()
	var others []int
	for i := range r.nodes {
		if i != host {
			others = append(others, i)
		}
	}
	agentNode, visitorNode := others[0], others[1]
	t.Logf("room on node %d; the agent's page is on node %d, the visitor's on node %d", host+1, agentNode+1, visitorNode+1)

	browser := newBrowser(t)
	agent, visitor := newPage(t, browser), newPage(t, browser)
	agentID := joinAs(t, agent, r.nodes[agentNode].URL+"/room/"+room+"#agent="+key, "Ann")
	visitorID := joinAs(t, visitor, r.nodes[visitorNode].URL+"/room/"+room, "Vic")
	if h := r.roomHost(); h != host {
		t.Fatalf("the room moved from node %d to node %d before the kill", host+1, h+1)
	}

	do(t, agent, chromedp.Click(chromedp.ID("call-video")))
	waitJS(t, visitor, "the incoming-call prompt", `!document.querySelector("#incoming-call").hidden`)
	do(t, visitor, chromedp.Click(chromedp.ID("accept-video")))
	pages := []struct {
		name  string
		page  context.Context
		other string // the member whose video this page shows
	}{{"agent", agent, visitorID}, {"visitor", visitor, agentID}}
	for _, p := range pages {
		waitGrowing(t, p.page, "video at the "+p.name+" before the kill", p.other, "video", "framesDecoded")
		// The receiving connection of before the kill, to tell a new one from it.
		eval[bool](t, p.page, `(window.liveroomCall.sub.mark = "before") === "before"`)
	}

	if err := r.nodes[host].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.nodes[host].done
	killedAt := time.Now()
	killed := map[string]float64{}
	for _, p := range pages {
		killed[p.name] = inbound(t, p.page, p.other, "video", "framesDecoded")
	}
	t.Logf("node %d killed; frames decoded so far: agent %v, visitor %v", host+1, killed["agent"], killed["visitor"])

	// Decoding again: on a new receiving connection (the page set the call
	// up again on the new node), or on the same one well past what it had
	// decoded when the node died (an ICE restart in place; frames already
	// under way when the node died are few).
	for _, p := range pages {
		again := fmt.Sprintf(`(async () => {
			const c = window.liveroomCall;
			if (!c.inCall || !c.sub) return false;
			const v = ((await c.stats())[%s] || {}).framesDecoded || 0;
			return c.sub.mark !== "before" ? v > 5 : v > %v + 60;
		})()`, jsString(p.other+":video"), killed[p.name])
		deadline := time.Now().Add(150 * time.Second)
		for !eval[bool](t, p.page, again) {
			if time.Now().After(deadline) {
				t.Fatalf("the %s's page never decoded video again after the kill (%v frames when it died, now %v)\npage: %s",
					p.name, killed[p.name], inbound(t, p.page, p.other, "video", "framesDecoded"), pageText(p.page))
			}
			time.Sleep(500 * time.Millisecond)
		}
		took := time.Since(killedAt)
		waitGrowing(t, p.page, "video at the "+p.name+" after the kill", p.other, "video", "framesDecoded")
		t.Logf("the %s's page decodes video again %.1f s after the kill (new receiving connection: %v)", p.name,
			took.Seconds(), eval[bool](t, p.page, `window.liveroomCall.sub.mark !== "before"`))
	}
	newHost := r.roomHost(host)
	t.Logf("room re-activated on node %d", newHost+1)
	for _, p := range pages {
		if eval[string](t, p.page, `window.liveroomCall.memberIdOf()`) != map[string]string{"agent": agentID, "visitor": visitorID}[p.name] {
			t.Errorf("the %s's page was admitted anew instead of keeping its membership", p.name)
		}
	}
}
