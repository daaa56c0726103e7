// Package actors starts this node's actor system and cluster and gives the rest
// of the server typed access to the grains.
package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"liveroom/actors/agent"
	"liveroom/actors/broadcast"
	"liveroom/actors/room"
	"liveroom/actors/session"
	"liveroom/actors/short"
	"liveroom/actors/visitor"
	"liveroom/actors/whiteboard"
	"liveroom/internal/gopool"
	"liveroom/metrics"
	"liveroom/proto/pb"
)

// NodeConfig says how this node joins its cluster.
type NodeConfig struct {
	ClusterName string
	Host        string
	Port        int
	// Provider is "single" (one node in this process) or "automanaged".
	Provider       string
	Peers          []string
	EtcdEndpoints  []string
	AutoPort       int
	RequestTimeout time.Duration
	Metrics        *metrics.Metrics
	Room           room.Deps
	Agent          agent.Deps
	Whiteboard     whiteboard.Deps
	// Broadcast is nil when broadcasts are off.
	Broadcast *broadcast.Deps
}

// Node is this process's actor system and cluster membership.
type Node struct {
	System       *actor.ActorSystem
	Cluster      *cluster.Cluster
	timeout      time.Duration
	log          *zap.Logger
	single       bool
	passwordCost int
	// members is the member count of the latest cluster topology. It is fed
	// from the topology events because protoactor's member list is updated
	// without a lock its readers could share.
	members atomic.Int64
	// evicted is closed when a topology arrives that leaves this node out.
	evicted     chan struct{}
	evictedOnce sync.Once
	metrics     *metrics.Metrics
}

// StartNode starts the actor system, joins the cluster and registers the grain
// kinds.
func StartNode(cfg NodeConfig, log *zap.Logger) (*Node, error) {
	if cfg.Port != 0 {
		// remote.Start panics on a taken port; say so plainly instead.
		l, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
		if err != nil {
			return nil, fmt.Errorf("cluster port: %w", err)
		}
		_ = l.Close()
	}
	// protoactor narrates every start and topology step at info; keep our info
	// logs readable and let its warnings and errors through.
	actorLog := log.Named("actor").WithOptions(zap.IncreaseLevel(zapcore.WarnLevel))
	slogger := slog.New(zapslog.NewHandler(actorLog.Core()))
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slogger }))
	// Before anything can run on the system: grains read the table of local
	// sessions as soon as they deliver.
	session.StartTable(system)

	var provider cluster.ClusterProvider
	switch cfg.Provider {
	case "single", "":
		provider = test.NewTestProvider(test.NewInMemAgent())
	case "automanaged":
		provider = automanaged.NewWithConfig(2*time.Second, cfg.AutoPort, cfg.Peers...)
	case "etcd":
		p, err := etcd.NewWithConfig("/liveroom", clientv3.Config{Endpoints: cfg.EtcdEndpoints,
			DialTimeout: 5 * time.Second, Logger: log.Named("etcd").WithOptions(zap.IncreaseLevel(zapcore.ErrorLevel))})
		if err != nil {
			return nil, fmt.Errorf("etcd: %w", err)
		}
		provider = p
	default:
		return nil, fmt.Errorf("unknown cluster provider %q", cfg.Provider)
	}
	// Addresses of the members in the latest topology, for grains that must
	// tell a session on a live node from one on a node that is gone.
	var live atomic.Pointer[map[string]bool]
	cfg.Room.Alive = func(address string) bool {
		m := live.Load()
		return m != nil && (*m)[address]
	}
	// protoactor's endpoint writer dials again on each failed attempt without
	// closing the connection it gave up on, and grpc keeps such a connection
	// reconnecting to a dead node for good. With an idle timeout a connection
	// that carries no stream (a live one always carries the writer's) stops.
	remoteCfg := remote.Configure(cfg.Host, cfg.Port, remote.WithDialOptions(
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithIdleTimeout(2*time.Second)))
	kinds := []*cluster.Kind{room.NewKind(cfg.Room), agent.NewKind(cfg.agentDeps()),
		short.NewKind(short.Deps{Store: cfg.Room.Store, Log: cfg.Room.Log.Named("short")}),
		whiteboard.NewKind(cfg.whiteboardDeps()),
		visitor.NewKind(visitor.Deps{Store: cfg.Room.Store, Log: cfg.Room.Log.Named("visitor"),
			MaxNameChars: cfg.Room.Settings.MaxNameChars})}
	if cfg.Broadcast != nil {
		kinds = append(kinds, broadcast.NewKind(*cfg.Broadcast))
	}
	for _, k := range kinds {
		// Grain turns run on kept goroutines (see gopool).
		k.Props.Configure(actor.WithDispatcher(gopool.Dispatcher))
	}
	clusterCfg := cluster.Configure(cfg.ClusterName, provider, disthash.New(), remoteCfg,
		cluster.WithKinds(kinds...),
		cluster.WithRequestTimeout(cfg.RequestTimeout))
	c := cluster.New(system, clusterCfg)
	n := &Node{System: system, Cluster: c, timeout: cfg.RequestTimeout, log: log,
		single: cfg.Provider == "single" || cfg.Provider == "", passwordCost: cfg.Room.Settings.PasswordCost,
		evicted: make(chan struct{}), metrics: cfg.Metrics}
	system.EventStream.Subscribe(func(evt interface{}) {
		if t, ok := evt.(*cluster.ClusterTopology); ok {
			n.members.Store(int64(len(t.Members)))
			addrs := make(map[string]bool, len(t.Members))
			for _, m := range t.Members {
				addrs[m.Address()] = true
			}
			live.Store(&addrs)
			if cfg.Provider == "etcd" && !addrs[system.Address()] {
				// The etcd provider drops its own node from its member list
				// when its lease expired (a pause, a cut), and the other
				// members block its id for good: rejoin as a new member.
				n.evictedOnce.Do(func() { close(n.evicted) })
			}
			if cfg.Metrics != nil {
				cfg.Metrics.Cluster.Members.Set(float64(len(t.Members)))
			}
		}
	})
	c.StartMember()
	if err := session.StartFanOut(system, cfg.Metrics); err != nil {
		n.Stop()
		return nil, fmt.Errorf("fan-out actor: %w", err)
	}
	return n, nil
}

// Evicted is closed when the cluster has dropped this node.
func (n *Node) Evicted() <-chan struct{} { return n.evicted }

// Ready reports whether the cluster has members to place grains on and
// still counts this node among them.
func (n *Node) Ready() error {
	if n.members.Load() == 0 {
		return errors.New("cluster has no members yet")
	}
	select {
	case <-n.evicted:
		return errors.New("dropped from the cluster; rejoining")
	default:
	}
	return nil
}

// Members is the member count of the latest cluster topology.
func (n *Node) Members() int { return int(n.members.Load()) }

// Stop leaves the cluster and stops the actor system.
func (n *Node) Stop() {
	// A lone node has nobody to hand over to, and protoactor's graceful leave
	// updates its block list unsynchronised against the gossip loop.
	n.Cluster.Shutdown(!n.single)
}

// ErrUnavailable is returned when a grain did not answer in time.
var ErrUnavailable = errors.New("the room service did not answer in time")

func (n *Node) request(ctx context.Context, roomID string, msg interface{}) (interface{}, error) {
	timeout := n.timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	start := time.Now()
	res, err := n.Cluster.Request(roomID, room.Kind, msg, cluster.WithTimeout(timeout))
	n.observe(roomID, room.Kind, start)
	if err != nil || res == nil {
		n.log.Warn("room request failed", zap.String("room", roomID), zap.Error(err))
		return nil, ErrUnavailable
	}
	return res, nil
}

func typed[T any](res interface{}, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	t, ok := res.(T)
	if !ok {
		return zero, fmt.Errorf("room answered %T", res)
	}
	return t, nil
}

// CreateRoom asks the room grain id to create itself. A password is hashed
// here, on the caller's goroutine, so the slow hash never holds up a grain.
func (n *Node) CreateRoom(ctx context.Context, id, visitorName, agentName, password string) (*pb.CreateRoomResult, error) {
	req := &pb.CreateRoom{Id: id, VisitorName: visitorName, AgentName: agentName}
	if password != "" {
		if len(password) > 72 {
			return &pb.CreateRoomResult{Error: &pb.Error{Code: "invalid", Message: "password must be at most 72 bytes"}}, nil
		}
		cost := n.passwordCost
		if cost == 0 {
			cost = bcrypt.DefaultCost
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
		if err != nil {
			return nil, err
		}
		req.PasswordHash = string(hash)
	}
	return typed[*pb.CreateRoomResult](n.request(ctx, req.Id, req))
}

// RoomInfo returns the public description of a room.
func (n *Node) RoomInfo(ctx context.Context, roomID string) (*pb.GetRoomInfoResult, error) {
	return typed[*pb.GetRoomInfoResult](n.request(ctx, roomID, &pb.GetRoomInfo{}))
}

// Tell sends a member request (Join, Leave, PostChat, PostFile, GetHistory)
// to a room and returns its reply.
func (n *Node) Tell(ctx context.Context, roomID string, msg interface{}) (*pb.RoomReply, error) {
	return typed[*pb.RoomReply](n.request(ctx, roomID, msg))
}

// observe records a grain request's latency, labelled by whether the grain
// answered from this node or another.
func (n *Node) observe(id, kind string, start time.Time) {
	if n.metrics == nil {
		return
	}
	where := "local"
	if pid, ok := n.Cluster.PidCache.Get(id, kind); ok && pid.Address != n.System.Address() {
		where = "remote"
	}
	n.metrics.Cluster.Requests.WithLabelValues(where).Observe(time.Since(start).Seconds())
}
