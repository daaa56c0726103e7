package web

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"liveroom/access"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// WHIP ingest (RFC 9725) and WHEP playback: an encoder such as OBS or
// GStreamer publishes into a broadcast with one HTTP POST of its SDP offer
// (the broadcaster key as bearer token), and a player receives with one POST
// (the viewer password, if any, as bearer token). Each is a member of the
// broadcast like a page; an actor named after the resource stands in for
// its socket, so DELETE on the resource URL ends it. The SDP answer carries
// every candidate of the server's one media port, so trickle (PATCH) is not
// needed and is answered 405.

const maxSDPBytes = 64 << 10

// httpMember is the session actor of a WHIP publisher or WHEP player.
type httpMember struct {
	pid     *actor.PID
	replies chan *pb.ServerFrame
}

func (a *agentWeb) spawnHTTPMember(kind, resource string) (*httpMember, error) {
	h := &httpMember{replies: make(chan *pb.ServerFrame, 16)}
	props := actor.PropsFromFunc(func(ctx actor.Context) {
		f, ok := ctx.Message().(*pb.ServerFrame)
		if !ok {
			return
		}
		if f.ReplyTo != "" {
			select {
			case h.replies <- f:
			default:
			}
			return
		}
		// The media connection is gone: the member goes with it (the grain
		// sees the actor stop and keeps the member for the resume grace).
		if e := f.GetError(); e != nil && (e.Code == "media_failed" || e.Code == "ice_timeout") {
			ctx.Stop(ctx.Self())
		}
	})
	pid, err := a.Node.System.Root.SpawnNamed(props, kind+"-"+resource)
	if err != nil {
		return nil, err
	}
	h.pid = pid
	return h, nil
}

// await returns the reply to frame id, or nil when none came in time.
func (h *httpMember) await(ctx context.Context, id string) *pb.ServerFrame {
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	for {
		select {
		case f := <-h.replies:
			if f.ReplyTo == id {
				return f
			}
		case <-t.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

var whipStatus = map[string]int{
	"broadcast_not_found":   http.StatusNotFound,
	"wrong_broadcaster_key": http.StatusUnauthorized,
	"password_required":     http.StatusUnauthorized,
	"wrong_password":        http.StatusUnauthorized,
	"broadcast_full":        http.StatusServiceUnavailable,
	"not_live":              http.StatusServiceUnavailable,
	"broadcast_not_open":    http.StatusForbidden,
	"broadcast_closed":      http.StatusForbidden,
	"unavailable":           http.StatusServiceUnavailable,
	"internal":              http.StatusInternalServerError,
}

func whipError(w http.ResponseWriter, e *pb.Error) {
	status, ok := whipStatus[e.Code]
	if !ok {
		status = http.StatusBadRequest
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="liveroom"`)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	apiError(w, status, e.Code, e.Message)
}

func (a *agentWeb) whipPost(w http.ResponseWriter, r *http.Request) { a.httpMediaPost(w, r, "whip") }
func (a *agentWeb) whepPost(w http.ResponseWriter, r *http.Request) { a.httpMediaPost(w, r, "whep") }

func (a *agentWeb) httpMediaPost(w http.ResponseWriter, r *http.Request, kind string) {
	id := r.PathValue("id")
	if !persistence.ValidID(id) {
		apiError(w, http.StatusNotFound, "broadcast_not_found", "This broadcast does not exist.")
		return
	}
	token, hasToken := access.ParseBearer(r.Header.Get("Authorization"))
	if kind == "whip" && !hasToken {
		whipError(w, &pb.Error{Code: "wrong_broadcaster_key", Message: "Send the broadcaster key: Authorization: Bearer <key>."})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/sdp") {
		apiError(w, http.StatusUnsupportedMediaType, "invalid", "Send an SDP offer with Content-Type: application/sdp.")
		return
	}
	offer, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSDPBytes))
	if err != nil || len(offer) == 0 {
		apiError(w, http.StatusBadRequest, "invalid", "The SDP offer is missing or larger than 64 KiB.")
		return
	}
	resource := newID(16)
	h, err := a.spawnHTTPMember(kind, resource)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The server could not take the stream.")
		return
	}
	ok := false
	defer func() {
		if !ok {
			a.leaveHTTPMember(r.Context(), id, h.pid)
		}
	}()
	join := &pb.BroadcastJoin{BroadcastId: id, Name: strings.ToUpper(kind)}
	if kind == "whip" {
		join.BroadcasterKey, join.Whip = token, true
	} else {
		join.Password, join.Whep = token, true
	}
	steps := []*pb.BroadcastRequest{{FrameId: "join", Body: &pb.BroadcastRequest_Join{Join: join}}}
	if kind == "whip" {
		steps = append(steps,
			&pb.BroadcastRequest{FrameId: "live", Body: &pb.BroadcastRequest_Control{Control: &pb.BroadcastControl{
				Action: pb.BroadcastAction_BROADCAST_ACTION_GO_LIVE}}},
			&pb.BroadcastRequest{FrameId: "offer", Body: &pb.BroadcastRequest_PublishOffer{PublishOffer: &pb.Sdp{Sdp: string(offer)}}})
	} else {
		steps = append(steps, &pb.BroadcastRequest{FrameId: "offer", Body: &pb.BroadcastRequest_WhepOffer{WhepOffer: &pb.Sdp{Sdp: string(offer)}}})
	}
	var answer string
	for _, step := range steps {
		step.Session = h.pid
		reply, err := a.Node.TellBroadcast(r.Context(), id, step)
		if err != nil {
			whipError(w, &pb.Error{Code: "unavailable", Message: "The broadcast did not answer in time; please retry."})
			return
		}
		if reply.Error != nil {
			whipError(w, reply.Error)
			return
		}
		if step.FrameId == "live" {
			continue // answered by the reply above; its ack goes nowhere
		}
		f := h.await(r.Context(), step.FrameId)
		if f == nil {
			whipError(w, &pb.Error{Code: "unavailable", Message: "The broadcast did not answer in time; please retry."})
			return
		}
		if e := f.GetError(); e != nil {
			whipError(w, e)
			return
		}
		answer = f.GetPublishAnswer().GetSdp()
	}
	ok = true
	a.Log.Info(kind+" session started", zap.String("broadcast", id))
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/"+kind+"/"+id+"/"+resource)
	w.Header().Set("ETag", `"`+resource+`"`)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

func (a *agentWeb) leaveHTTPMember(ctx context.Context, id string, pid *actor.PID) {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = a.Node.TellBroadcast(lctx, id, &pb.BroadcastRequest{Session: pid,
		Body: &pb.BroadcastRequest_Leave{Leave: &pb.BroadcastLeave{}}})
	a.Node.System.Root.Stop(pid)
}

// httpMediaDelete ends a WHIP or WHEP session: the resource URL is its
// capability (unguessable, only given to the client that made it).
func (a *agentWeb) httpMediaDelete(w http.ResponseWriter, r *http.Request) {
	kind := "whip"
	if strings.HasPrefix(r.URL.Path, "/whep/") {
		kind = "whep"
	}
	id, resource := r.PathValue("id"), r.PathValue("resource")
	if !persistence.ValidID(id) || !persistence.ValidID(resource) {
		http.NotFound(w, r)
		return
	}
	pid := actor.NewPID(a.Node.System.Address(), kind+"-"+resource)
	reply, err := a.Node.TellBroadcast(r.Context(), id, &pb.BroadcastRequest{Session: pid,
		Body: &pb.BroadcastRequest_Leave{Leave: &pb.BroadcastLeave{}}})
	if err != nil {
		unavailable(w)
		return
	}
	if reply.Error != nil {
		http.NotFound(w, r)
		return
	}
	a.Node.System.Root.Stop(pid)
	w.WriteHeader(http.StatusOK)
}

func trickleNotSupported(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Allow", "DELETE")
	w.WriteHeader(http.StatusMethodNotAllowed)
}
