package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/channel"
	"github.com/fleetwire/fleetwire/runtime/hub"
	"github.com/fleetwire/fleetwire/runtime/message"
)

// adminRoutes registers the admin API; every route needs the admin role.
func (a *API) adminRoutes() {
	a.handle("GET /admin/connections", a.admin(a.handleAdminConnections))
	a.handle("GET /admin/queues", a.admin(a.handleAdminQueues))
	a.handle("DELETE /admin/queues/user/{userId}", a.admin(a.handleClearQueue))
	a.handle("POST /admin/alert", a.admin(a.handleAlert))
	a.handle("POST /admin/disconnect/{userId}", a.admin(a.handleDisconnect))
	a.handle("POST /admin/tokens/revoke", a.admin(a.handleRevoke))
	a.handle("POST /admin/rebalance", a.admin(a.handleRebalance))
	a.handle("GET /admin/rebalance", a.admin(a.handleRebalanceState))
	a.handle("DELETE /admin/rebalance", a.admin(a.handleStopRebalance))
}

// maxTop bounds ?top=N on the admin listings.
const maxTop = 1000

func (a *API) handleAdminConnections(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	top, aerr := queryInt(r, "top", 10, 1, maxTop)
	if aerr != nil {
		return nil, aerr
	}
	return a.cfg.Hub.ConnectionStats(r.Context(), top)
}

func (a *API) handleAdminQueues(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	top, aerr := queryInt(r, "top", 10, 1, maxTop)
	if aerr != nil {
		return nil, aerr
	}
	return a.cfg.Hub.QueueReport(r.Context(), top)
}

// ClearQueueReply answers DELETE /admin/queues/user/:userId.
type ClearQueueReply struct {
	UserID  string `json:"userId"`
	Cleared int    `json:"cleared"`
}

func (a *API) handleClearQueue(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	userID := r.PathValue("userId")
	if err := validateUserID("userId", userID); err != nil {
		return nil, err
	}
	n, err := a.cfg.Queue.Clear(r.Context(), userID)
	if err != nil {
		return nil, fmt.Errorf("while clearing the queue of %s: %w", userID, err)
	}
	a.cfg.Logger.Info("offline queue cleared", "userId", userID, "cleared", n, "requestId", requestID(r.Context()))
	return ClearQueueReply{UserID: userID, Cleared: n}, nil
}

// AlertRequest is the body of POST /admin/alert. With neither Channel nor
// Team the alert goes to every connection.
type AlertRequest struct {
	Payload  json.RawMessage `json:"payload"`
	Priority string          `json:"priority"`
	Channel  string          `json:"channel"`
	Team     string          `json:"team"`
}

// alertType is the message type of admin alerts, as in the replaced service.
const alertType = "system_alert"

func (a *API) handleAlert(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	var req AlertRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if len(req.Payload) == 0 {
		return nil, fieldError("payload", `"payload" is required, e.g. {"title": "...", "message": "..."}`)
	}
	prio := req.Priority
	if prio == "" {
		prio = string(message.PriorityHigh)
	}
	p, err := message.ParsePriority(prio)
	if err != nil {
		return nil, fieldError("priority", err.Error())
	}
	if req.Channel != "" && req.Team != "" {
		return nil, fieldError("team", `give "channel" or "team", not both`)
	}
	target := req.Channel
	if req.Team != "" {
		target = channel.NamespaceTeam + ":" + req.Team
	}
	msg := message.New(alertType, req.Payload, p)
	if target == "" {
		return a.cfg.Hub.Broadcast(r.Context(), msg)
	}
	if err := channel.ValidateName(target); err != nil {
		field := "channel"
		if req.Team != "" {
			field = "team"
		}
		return nil, fieldError(field, err.Error())
	}
	return a.cfg.Hub.Publish(r.Context(), target, msg)
}

// DisconnectReply answers POST /admin/disconnect/:userId.
type DisconnectReply struct {
	UserID       string `json:"userId"`
	Disconnected int    `json:"disconnected"`
}

func (a *API) handleDisconnect(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	userID := r.PathValue("userId")
	if err := validateUserID("userId", userID); err != nil {
		return nil, err
	}
	return DisconnectReply{UserID: userID, Disconnected: a.disconnectHere(r, userID)}, nil
}

// disconnectHere closes the user's sessions on this node, logs it and
// returns how many it closed.
func (a *API) disconnectHere(r *http.Request, userID string) int {
	n := a.cfg.Hub.DisconnectUser(userID)
	a.cfg.Logger.Info("user disconnected by an administrator", "userId", userID, "connections", n, "requestId", requestID(r.Context()))
	return n
}

// TestRequest is the body of POST /ws/test.
type TestRequest struct {
	TestType string          `json:"testType"`
	Payload  json.RawMessage `json:"payload"`
}

// TestReply answers POST /ws/test.
type TestReply struct {
	TestType  string          `json:"testType"`
	OK        bool            `json:"ok"`
	Timestamp string          `json:"timestamp"`
	Echo      json.RawMessage `json:"echo,omitempty"`
	Delivery  *hub.Delivery   `json:"delivery,omitempty"`
}

// handleTest exercises the path end to end, as the replaced service's
// POST /ws/test did: ping answers at once, echo returns the payload, and
// broadcast sends a "test" message to every connection.
func (a *API) handleTest(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	var req TestRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	reply := TestReply{TestType: req.TestType, OK: true}
	switch req.TestType {
	case "ping":
	case "echo":
		reply.Echo = req.Payload
		if len(reply.Echo) == 0 {
			reply.Echo = json.RawMessage("null")
		}
	case "broadcast":
		msg := message.New("test", req.Payload, message.PriorityNormal)
		d, err := a.cfg.Hub.Broadcast(r.Context(), msg)
		if err != nil {
			return nil, err
		}
		reply.Delivery = &d
	default:
		return nil, fieldError("testType", `"testType" must be ping, echo or broadcast`)
	}
	reply.Timestamp = time.Now().UTC().Format(message.TimestampFormat)
	return reply, nil
}

// RebalanceRequest is the body of POST /admin/rebalance.
type RebalanceRequest struct {
	// Target is how many connections this node keeps.
	Target *int64 `json:"target"`
	// PerSecond is how many clients at most are asked to reconnect each
	// second. Default hub.DefaultRebalancePerSecond.
	PerSecond float64 `json:"perSecond"`
	// DurationSeconds is how long the order stands. Default
	// hub.DefaultRebalanceDuration.
	DurationSeconds int `json:"durationSeconds"`
}

// handleRebalance puts a rebalance order in force on this node
// (docs/autoscaling.md). It acts on the node that answers, not the fleet.
func (a *API) handleRebalance(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	var req RebalanceRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.Target == nil {
		return nil, fieldError("target", `"target" is required: the connections this node keeps`)
	}
	if req.PerSecond == 0 {
		req.PerSecond = hub.DefaultRebalancePerSecond
	}
	if req.DurationSeconds == 0 {
		req.DurationSeconds = int(hub.DefaultRebalanceDuration / time.Second)
	}
	if req.DurationSeconds < 0 {
		return nil, fieldError("durationSeconds", `"durationSeconds" must be positive`)
	}
	order := hub.RebalanceOrder{Target: *req.Target, PerSecond: req.PerSecond,
		Until: time.Now().Add(time.Duration(req.DurationSeconds) * time.Second)}
	if err := a.cfg.Hub.Rebalance(order); err != nil {
		if errors.Is(err, hub.ErrClosing) {
			return nil, newError(http.StatusServiceUnavailable, CodeShuttingDown, "this node is draining")
		}
		return nil, newError(http.StatusBadRequest, CodeValidation, err.Error())
	}
	a.cfg.Logger.Info("rebalance ordered by an administrator", "target", order.Target, "perSecond", order.PerSecond,
		"until", order.Until, "requestId", requestID(r.Context()))
	return a.cfg.Hub.RebalanceState(), nil
}

func (a *API) handleRebalanceState(_ http.ResponseWriter, _ *http.Request, _ *auth.Claims) (any, error) {
	return a.cfg.Hub.RebalanceState(), nil
}

func (a *API) handleStopRebalance(_ http.ResponseWriter, _ *http.Request, _ *auth.Claims) (any, error) {
	a.cfg.Hub.StopRebalance()
	return a.cfg.Hub.RebalanceState(), nil
}
