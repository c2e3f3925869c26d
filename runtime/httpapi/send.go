package httpapi

import (
	"context"
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

// SendRequest is the body of POST /ws/send/:userId and /ws/broadcast.
type SendRequest struct {
	Type     string          `json:"type"`
	Payload  json.RawMessage `json:"payload"`
	Priority string          `json:"priority"`
}

// newMessage validates the request fields and builds the message.
func (a *API) newMessage(req SendRequest) (*message.Message, *apiError) {
	if req.Type == "" {
		return nil, fieldError("type", `"type" is required`)
	}
	if err := message.ValidateType(req.Type, a.cfg.AllowedTypes); err != nil {
		return nil, fieldError("type", err.Error())
	}
	prio, err := message.ParsePriority(req.Priority)
	if err != nil {
		return nil, fieldError("priority", err.Error())
	}
	return message.New(req.Type, req.Payload, prio), nil
}

func (a *API) handleSend(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	userID := r.PathValue("userId")
	if err := validateUserID("userId", userID); err != nil {
		return nil, err
	}
	var req SendRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	msg, aerr := a.newMessage(req)
	if aerr != nil {
		return nil, aerr
	}
	return a.cfg.Hub.SendToUser(r.Context(), userID, msg)
}

// BulkRequest is the body of POST /ws/send/bulk: one message to many users.
type BulkRequest struct {
	UserIDs []string `json:"userIds"`
	SendRequest
}

// BulkResult is one user's outcome in a BulkReply.
type BulkResult struct {
	UserID string `json:"userId"`
	hub.Delivery
}

// BulkReply answers POST /ws/send/bulk.
type BulkReply struct {
	Results   []BulkResult `json:"results"`
	Delivered int          `json:"delivered"`
	Queued    int          `json:"queued"`
}

// handleSendBulk validates every user id before sending anything, so a bad
// request sends nothing. Each user gets its own message id.
func (a *API) handleSendBulk(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	var req BulkRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if len(req.UserIDs) == 0 {
		return nil, fieldError("userIds", `"userIds" must list at least one user`)
	}
	if len(req.UserIDs) > a.cfg.MaxBulkUsers {
		return nil, fieldError("userIds", fmt.Sprintf(`"userIds" may list at most %d users, got %d`, a.cfg.MaxBulkUsers, len(req.UserIDs)))
	}
	for i, id := range req.UserIDs {
		if err := validateUserID(fmt.Sprintf("userIds[%d]", i), id); err != nil {
			return nil, err
		}
	}
	if _, aerr := a.newMessage(req.SendRequest); aerr != nil {
		return nil, aerr
	}
	reply := BulkReply{Results: make([]BulkResult, 0, len(req.UserIDs))}
	for _, id := range req.UserIDs {
		msg, _ := a.newMessage(req.SendRequest)
		d, err := a.cfg.Hub.SendToUser(r.Context(), id, msg)
		if err != nil {
			return nil, err
		}
		reply.Results = append(reply.Results, BulkResult{UserID: id, Delivery: d})
		if d.Status == hub.StatusQueued {
			reply.Queued++
		} else {
			reply.Delivered++
		}
	}
	return reply, nil
}

func (a *API) handleBroadcast(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	var req SendRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	msg, aerr := a.newMessage(req)
	if aerr != nil {
		return nil, aerr
	}
	return a.cfg.Hub.Broadcast(r.Context(), msg)
}

// PublishRequest is the body of POST /ws/publish: one channel, or up to
// MaxPublishChannels of them.
type PublishRequest struct {
	Channel  string   `json:"channel"`
	Channels []string `json:"channels"`
	SendRequest
}

// MaxPublishChannels bounds "channels" in one publish.
const MaxPublishChannels = 100

// PublishResult is one channel's outcome in a PublishManyReply: its
// delivery, or the error that kept it from being published.
type PublishResult struct {
	Channel   string       `json:"channel"`
	MessageID string       `json:"messageId,omitempty"`
	Status    string       `json:"status,omitempty"`
	Error     *ErrorDetail `json:"error,omitempty"`
}

// PublishManyReply answers a publish to "channels".
type PublishManyReply struct {
	Results   []PublishResult `json:"results"`
	Published int             `json:"published"`
	Failed    int             `json:"failed"`
}

func (a *API) handlePublish(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	var req PublishRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	switch {
	case req.Channel != "" && len(req.Channels) > 0:
		return nil, fieldError("channels", `give "channel" or "channels", not both`)
	case len(req.Channels) > 0:
		return a.publishMany(r, req)
	case req.Channel == "":
		return nil, fieldError("channel", `"channel" (or "channels") is required`)
	}
	if err := channel.ValidateName(req.Channel); err != nil {
		return nil, fieldError("channel", err.Error())
	}
	msg, aerr := a.newMessage(req.SendRequest)
	if aerr != nil {
		return nil, aerr
	}
	return a.cfg.Hub.Publish(r.Context(), req.Channel, msg)
}

// publishMany checks every channel before publishing anything, then
// publishes one message, with its own id, to each in turn. When a store
// refuses one, the rest are not tried: the reply says which were
// published, so a retry can skip them. If the first is refused, nothing
// was published and the answer is the usual 503.
func (a *API) publishMany(r *http.Request, req PublishRequest) (any, error) {
	if len(req.Channels) > MaxPublishChannels {
		return nil, fieldError("channels", fmt.Sprintf(`"channels" may list at most %d channels, got %d`, MaxPublishChannels, len(req.Channels)))
	}
	seen := make(map[string]bool, len(req.Channels))
	for i, ch := range req.Channels {
		field := fmt.Sprintf("channels[%d]", i)
		if err := channel.ValidateName(ch); err != nil {
			return nil, fieldError(field, err.Error())
		}
		if seen[ch] {
			return nil, fieldError(field, fmt.Sprintf("channel %s is listed twice", ch))
		}
		seen[ch] = true
	}
	if _, aerr := a.newMessage(req.SendRequest); aerr != nil {
		return nil, aerr
	}
	reply := PublishManyReply{Results: make([]PublishResult, 0, len(req.Channels))}
	var failure error
	for _, ch := range req.Channels {
		res := PublishResult{Channel: ch}
		if failure != nil {
			res.Error = &ErrorDetail{Code: CodeNotAttempted, Message: "not published: an earlier channel was refused; retry this one"}
			reply.Failed++
			reply.Results = append(reply.Results, res)
			continue
		}
		msg, _ := a.newMessage(req.SendRequest)
		d, err := a.cfg.Hub.Publish(r.Context(), ch, msg)
		if err != nil {
			if reply.Published == 0 {
				return nil, err
			}
			failure = err
			a.cfg.Logger.Error(err, "publish refused part-way", "channel", ch, "requestId", requestID(r.Context()))
			res.Error = &ErrorDetail{Code: CodeInternal, Message: "not published: internal error; see the server log for request " + requestID(r.Context())}
			if errors.Is(err, hub.ErrUnavailable) {
				res.Error = &ErrorDetail{Code: CodeStoreUnavailable, Message: "a store this node needs (Redis) did not take the publication; retry this one"}
			}
			reply.Failed++
		} else {
			res.MessageID, res.Status = d.MessageID, d.Status
			reply.Published++
		}
		reply.Results = append(reply.Results, res)
	}
	return reply, nil
}

func (a *API) handleStatus(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	userID := r.PathValue("userId")
	if err := validateUserID("userId", userID); err != nil {
		return nil, err
	}
	return a.cfg.Hub.Status(r.Context(), userID)
}

// QueueReply answers GET /ws/queue/:userId.
type QueueReply struct {
	UserID   string             `json:"userId"`
	Depth    int                `json:"depth"`
	Messages []*message.Message `json:"messages"`
}

// maxQueuePeek bounds GET /ws/queue/:userId?limit=N.
const maxQueuePeek = 1000

func (a *API) handleQueue(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	userID := r.PathValue("userId")
	if err := validateUserID("userId", userID); err != nil {
		return nil, err
	}
	limit, aerr := queryInt(r, "limit", 100, 1, maxQueuePeek)
	if aerr != nil {
		return nil, aerr
	}
	return a.peekQueue(r.Context(), userID, limit)
}

// peekQueue reads the first limit messages of the user's offline queue.
func (a *API) peekQueue(ctx context.Context, userID string, limit int) (QueueReply, error) {
	msgs, depth, err := a.cfg.Queue.Peek(ctx, userID, limit)
	if err != nil {
		return QueueReply{}, fmt.Errorf("while reading the queue of %s: %w", userID, err)
	}
	if msgs == nil {
		msgs = []*message.Message{}
	}
	return QueueReply{UserID: userID, Depth: depth, Messages: msgs}, nil
}

// RevokeRequest is the body of POST /admin/tokens/revoke.
type RevokeRequest struct {
	JTI string `json:"jti"`
	// ExpiresAt is when the token expires anyway (RFC 3339). Default: 24h
	// from now, which covers tokens issued with the usual lifetimes.
	ExpiresAt *revokeTime `json:"expiresAt"`
}

// revokeTime is an RFC 3339 time whose parse errors name "expiresAt".
type revokeTime struct{ time.Time }

func (t *revokeTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &fieldParseError{field: "expiresAt", msg: `"expiresAt" must be an RFC 3339 time string, e.g. "2026-12-31T23:00:00Z"`}
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return &fieldParseError{field: "expiresAt", msg: fmt.Sprintf(`"expiresAt" must be an RFC 3339 time, e.g. "2026-12-31T23:00:00Z"; %q is not`, s)}
	}
	t.Time = v
	return nil
}

// RevokeReply answers POST /admin/tokens/revoke.
type RevokeReply struct {
	JTI          string    `json:"jti"`
	RevokedUntil time.Time `json:"revokedUntil"`
	Disconnected int       `json:"disconnected"`
}

// defaultRevocation is how long a revocation without expiresAt lasts.
const defaultRevocation = 24 * time.Hour

func (a *API) handleRevoke(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	var req RevokeRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.JTI == "" || len(req.JTI) > 256 {
		return nil, fieldError("jti", `"jti" is required and at most 256 bytes`)
	}
	until := time.Now().Add(defaultRevocation)
	if req.ExpiresAt != nil {
		if !req.ExpiresAt.After(time.Now()) {
			return nil, fieldError("expiresAt", `"expiresAt" must be in the future`)
		}
		until = req.ExpiresAt.Time
	}
	if a.cfg.Denylist == nil {
		return nil, newError(http.StatusNotImplemented, CodeInternal, "token revocation is not configured")
	}
	if err := a.cfg.Denylist.Revoke(r.Context(), req.JTI, until); err != nil {
		return nil, fmt.Errorf("while revoking a token: %w", err)
	}
	n := a.cfg.Hub.RevokeToken(req.JTI)
	a.cfg.Logger.Info("token revoked", "jti", req.JTI, "until", until, "disconnected", n, "requestId", requestID(r.Context()))
	return RevokeReply{JTI: req.JTI, RevokedUntil: until.UTC(), Disconnected: n}, nil
}

// handleHistory answers GET /ws/channels/:channel/history?since=<id>&limit=N.
func (a *API) handleHistory(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	ch := r.PathValue("channel")
	if err := channel.ValidateName(ch); err != nil {
		return nil, fieldError("channel", err.Error())
	}
	limit, aerr := queryInt(r, "limit", hub.DefaultHistoryLimit, 1, hub.MaxHistoryLimit)
	if aerr != nil {
		return nil, aerr
	}
	q := hub.HistoryQuery{Channel: ch, Limit: limit}
	if r.URL.Query().Has("since") {
		since := r.URL.Query().Get("since")
		q.Since = &since
	}
	page, err := a.cfg.Hub.History(r.Context(), q)
	if errors.Is(err, hub.ErrNoHistory) {
		return nil, newError(http.StatusNotFound, CodeHistoryDisabled, "channel "+ch+" keeps no history: its namespace has none (channels.history)")
	}
	return page, err
}

// SubscribeUserRequest is the body of POST /ws/subscribe/:userId and
// /ws/unsubscribe/:userId.
type SubscribeUserRequest struct {
	Channels []string `json:"channels"`
}

// SubscribeUserReply answers them; RememberedUntil only for subscribe.
type SubscribeUserReply struct {
	UserID          string    `json:"userId"`
	Channels        []string  `json:"channels"`
	RememberedUntil time.Time `json:"rememberedUntil,omitzero"`
}

// parseUserChannels reads and checks the user id and the channels.
func parseUserChannels(r *http.Request) (string, []string, error) {
	userID := r.PathValue("userId")
	if err := validateUserID("userId", userID); err != nil {
		return "", nil, err
	}
	var req SubscribeUserRequest
	if err := decodeJSON(r, &req); err != nil {
		return "", nil, err
	}
	if len(req.Channels) == 0 || len(req.Channels) > MaxPublishChannels {
		return "", nil, fieldError("channels", fmt.Sprintf(`"channels" must list 1 to %d channels`, MaxPublishChannels))
	}
	for i, ch := range req.Channels {
		if err := channel.ValidateName(ch); err != nil {
			return "", nil, fieldError(fmt.Sprintf("channels[%d]", i), err.Error())
		}
	}
	return userID, req.Channels, nil
}

// handleSubscribeUser subscribes every live connection of the user, on
// every node, and remembers the channels for the user's next connections.
// The channel rules are applied by each connection; refusals reach the
// client in its subscribed event.
func (a *API) handleSubscribeUser(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	userID, channels, err := parseUserChannels(r)
	if err != nil {
		return nil, err
	}
	until, err := a.cfg.Hub.SubscribeUser(r.Context(), userID, channels)
	if err != nil {
		return nil, err
	}
	return SubscribeUserReply{UserID: userID, Channels: channels, RememberedUntil: until.UTC()}, nil
}

func (a *API) handleUnsubscribeUser(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	userID, channels, err := parseUserChannels(r)
	if err != nil {
		return nil, err
	}
	if err := a.cfg.Hub.UnsubscribeUser(r.Context(), userID, channels); err != nil {
		return nil, err
	}
	return SubscribeUserReply{UserID: userID, Channels: channels}, nil
}

// presenceChannel reads and checks the channel of a presence request.
func presenceChannel(r *http.Request) (string, error) {
	ch := r.PathValue("channel")
	if err := channel.ValidateName(ch); err != nil {
		return "", fieldError("channel", err.Error())
	}
	return ch, nil
}

func presenceDisabled(ch string) *apiError {
	return newError(http.StatusNotFound, CodePresenceDisabled, "channel "+ch+" records no presence: its namespace has none (channels.namespaces.<ns>.presence)")
}

// handlePresence answers GET /ws/channels/:channel/presence?after=<userId>&limit=N.
func (a *API) handlePresence(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	ch, err := presenceChannel(r)
	if err != nil {
		return nil, err
	}
	limit, aerr := queryInt(r, "limit", hub.DefaultPresenceLimit, 1, hub.MaxPresenceLimit)
	if aerr != nil {
		return nil, aerr
	}
	page, err := a.cfg.Hub.ChannelPresence(r.Context(), ch, r.URL.Query().Get("after"), limit)
	if errors.Is(err, hub.ErrNoPresence) {
		return nil, presenceDisabled(ch)
	}
	return page, err
}

// handlePresenceStats answers GET /ws/channels/:channel/presence-stats.
func (a *API) handlePresenceStats(_ http.ResponseWriter, r *http.Request, _ *auth.Claims) (any, error) {
	ch, err := presenceChannel(r)
	if err != nil {
		return nil, err
	}
	st, err := a.cfg.Hub.ChannelPresenceStats(r.Context(), ch)
	if errors.Is(err, hub.ErrNoPresence) {
		return nil, presenceDisabled(ch)
	}
	return st, err
}
