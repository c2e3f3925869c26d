package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/fleet"
	"github.com/fleetwire/fleetwire/runtime/hub"
	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/queue"
)

// consoleRoutes registers what the console reads beyond the rest of the
// API (docs/console.md), and the console itself when it is on.
func (a *API) consoleRoutes() {
	if a.cfg.Fleet != nil {
		a.handle("GET /admin/fleet", a.admin(a.handleFleet))
		a.handle("GET /admin/users/{userId}", a.admin(a.handleUser))
		a.handle("POST /admin/users/{userId}/disconnect", a.admin(a.handleFleetDisconnect))
	}
	if a.cfg.Console != nil {
		a.handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
		a.handle("GET /console/", a.cfg.Console)
	}
}

// FleetReply answers GET /admin/fleet.
type FleetReply struct {
	fleet.Overview
	Queues hub.QueueReport `json:"queues"`
}

// fleetTopQueues is how many of the deepest queues the overview lists.
const fleetTopQueues = 5

// handleFleet answers even when Redis is away, with what this node knows
// and a warning for each part it could not read.
func (a *API) handleFleet(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	o := a.cfg.Fleet.Overview(r.Context())
	q, err := a.cfg.Hub.QueueReport(r.Context(), fleetTopQueues)
	if err != nil {
		o.Warnings = append(o.Warnings, "the offline queues could not be read ("+err.Error()+")")
		q.Largest = []queue.UserDepth{}
	}
	return FleetReply{Overview: o, Queues: q}, nil
}

// NodeSession is a connection and the node that holds it.
type NodeSession struct {
	Node string `json:"node"`
	hub.SessionInfo
}

// UserReply answers GET /admin/users/:userId: what the fleet knows of a
// user. With ?local=1 it is this node's part only, which the node that
// answers the console asks of every other node.
type UserReply struct {
	UserID string `json:"userId"`
	// Online and Connections are the fleet-wide presence.
	Online      bool          `json:"online"`
	Connections int           `json:"connections"`
	Sessions    []NodeSession `json:"sessions"`
	// Deliveries are the user's last direct messages, newest first.
	Deliveries []hub.DeliveryRecord `json:"deliveries"`
	Queue      *QueueReply          `json:"queue,omitempty"`
	// Unreachable names the nodes that did not answer; their part is
	// missing.
	Unreachable []string `json:"unreachable"`
	// Warnings say what else could not be read (Redis away).
	Warnings []string `json:"warnings"`
}

// userDeliveries bounds the deliveries a user page shows; userQueuePeek
// the queued messages.
const (
	userDeliveries = 20
	userQueuePeek  = 20
	// fanoutTimeout bounds each request to another node.
	fanoutTimeout = 3 * time.Second
)

func (a *API) handleUser(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	userID := r.PathValue("userId")
	if err := validateUserID("userId", userID); err != nil {
		return nil, err
	}
	self := a.cfg.Fleet.Name()
	reply := UserReply{UserID: userID, Sessions: []NodeSession{}, Unreachable: []string{}}
	for _, s := range a.cfg.Hub.UserSessions(userID) {
		reply.Sessions = append(reply.Sessions, NodeSession{Node: self, SessionInfo: s})
	}
	reply.Deliveries = a.cfg.Hub.RecentDeliveries(userID, userDeliveries)
	if r.URL.Query().Get("local") == "1" {
		return reply, nil
	}
	reply.Warnings = []string{}
	if st, err := a.cfg.Hub.Status(r.Context(), userID); err != nil {
		reply.Warnings = append(reply.Warnings, "presence could not be read ("+err.Error()+"); the count is this node's")
		reply.Online, reply.Connections = len(reply.Sessions) > 0, len(reply.Sessions)
	} else {
		reply.Online, reply.Connections = st.Online, st.Connections
	}
	q, err := a.peekQueue(r.Context(), userID, userQueuePeek)
	if err != nil {
		reply.Warnings = append(reply.Warnings, "the offline queue could not be read ("+err.Error()+")")
		q = QueueReply{UserID: userID, Messages: []*message.Message{}}
	}
	reply.Queue = &q
	parts, unreachable := a.askOtherNodes(r, http.MethodGet, "/admin/users/"+url.PathEscape(userID)+"?local=1")
	reply.Unreachable = unreachable
	for _, raw := range parts {
		var p UserReply
		if json.Unmarshal(raw, &p) != nil {
			continue
		}
		reply.Sessions = append(reply.Sessions, p.Sessions...)
		reply.Deliveries = append(reply.Deliveries, p.Deliveries...)
	}
	slices.SortFunc(reply.Deliveries, func(x, y hub.DeliveryRecord) int { return y.At.Compare(x.At) })
	if len(reply.Deliveries) > userDeliveries {
		reply.Deliveries = reply.Deliveries[:userDeliveries]
	}
	return reply, nil
}

// FleetDisconnectReply answers POST /admin/users/:userId/disconnect.
type FleetDisconnectReply struct {
	UserID       string   `json:"userId"`
	Disconnected int      `json:"disconnected"`
	Unreachable  []string `json:"unreachable"`
}

// handleFleetDisconnect closes the user's connections on every node, by
// asking each for POST /admin/disconnect/:userId.
func (a *API) handleFleetDisconnect(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	userID := r.PathValue("userId")
	if err := validateUserID("userId", userID); err != nil {
		return nil, err
	}
	reply := FleetDisconnectReply{UserID: userID, Disconnected: a.disconnectHere(r, userID)}
	parts, unreachable := a.askOtherNodes(r, http.MethodPost, "/admin/disconnect/"+url.PathEscape(userID))
	reply.Unreachable = unreachable
	for _, raw := range parts {
		var p DisconnectReply
		if json.Unmarshal(raw, &p) == nil {
			reply.Disconnected += p.Disconnected
		}
	}
	return reply, nil
}

// askOtherNodes sends the request to every other live node with the
// caller's own Authorization header, at once, and returns the bodies of
// the 200 answers and the names of the nodes that gave none.
func (a *API) askOtherNodes(r *http.Request, method, path string) (bodies []json.RawMessage, unreachable []string) {
	unreachable = []string{}
	nodes, err := a.cfg.Fleet.Nodes(r.Context())
	if err != nil {
		a.cfg.Logger.Error(err, "fleet registry unreadable; answering for this node only")
		return nil, []string{"(fleet registry unreadable)"}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range nodes {
		if n.Name == a.cfg.Fleet.Name() {
			continue
		}
		wg.Go(func() {
			body, err := a.askNode(r, n, method, path)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				a.cfg.Logger.Info("a node did not answer the console", "node", n.Name, "error", err.Error())
				unreachable = append(unreachable, n.Name)
				return
			}
			bodies = append(bodies, body)
		})
	}
	wg.Wait()
	return bodies, unreachable
}

func (a *API) askNode(r *http.Request, n fleet.Node, method, path string) (json.RawMessage, error) {
	if n.Address == "" {
		return nil, fmt.Errorf("node %s has no address", n.Name)
	}
	ctx, cancel := context.WithTimeout(r.Context(), fanoutTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+n.Address+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	req.Header.Set("X-Request-ID", requestID(r.Context()))
	resp, err := a.peers.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s answered %d", method, path, resp.StatusCode)
	}
	var body json.RawMessage
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 4<<20)).Decode(&body); err != nil {
		return nil, err
	}
	return body, nil
}
