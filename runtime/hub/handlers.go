package hub

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"time"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/protocol"
	"github.com/fleetwire/fleetwire/runtime/ratelimit"
	"github.com/fleetwire/fleetwire/runtime/rpcproxy"
)

// maxChannelsPerRequest bounds one subscribe or unsubscribe frame.
const maxChannelsPerRequest = 100

// handleFrame decodes one client frame, applies the event rate limit and
// runs the event's handler. A frame with an id gets exactly one reply.
func (s *Session) handleFrame(p []byte) {
	f, err := s.codec.Decode(p)
	if err != nil {
		s.hub.cfg.Metrics.MessagesReceived.WithLabelValues("invalid").Inc()
		s.replyError(f, asProtocolError(err))
		return
	}
	s.hub.cfg.Metrics.MessagesReceived.WithLabelValues(eventLabel(f.Event)).Inc()
	if perr := s.checkRate(f.Event); perr != nil {
		s.replyError(f, perr)
		s.noteBlocked()
		return
	}
	var reply any
	var perr *protocol.Error
	switch f.Event {
	case "ping":
		reply, perr = s.handlePing(f)
	case "subscribe":
		reply, perr = s.handleSubscribe(f)
	case "unsubscribe":
		reply, perr = s.handleUnsubscribe(f)
	case "request_queue_stats":
		reply, perr = s.handleQueueStats(f)
	case "ack_messages":
		reply, perr = s.handleAckMessages(f)
	default:
		if s.forward(f) {
			return // answered when the backend replies
		}
		perr = protocol.Errorf(protocol.CodeUnknownEvent, "unknown event %q", f.Event)
	}
	if perr != nil {
		s.replyError(f, perr)
		return
	}
	s.replyAck(f, reply)
}

// eventLabel bounds the event label: client-chosen names would otherwise
// grow the metric without limit.
func eventLabel(e string) string {
	switch e {
	case "ping", "subscribe", "unsubscribe", "request_queue_stats", "ack_messages":
		return e
	}
	return "other"
}

func asProtocolError(err error) *protocol.Error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	return protocol.Errorf(protocol.CodeInternal, "internal error")
}

// checkRate applies the per-user message rule, then the rule for this
// event name if there is one, both chosen by the token's tier.
func (s *Session) checkRate(event string) *protocol.Error {
	rates := s.hub.cfg.Rates
	tier := s.claims.Tier
	if perr := s.allow(ratelimit.RuleMessages, "msg:"+s.userID, rates.MessagesFor(tier), "events"); perr != nil {
		return perr
	}
	if rule, ok := rates.EventFor(tier, event); ok {
		return s.allow(ratelimit.RuleEvent, "evt:"+event+":"+s.userID, rule, event+" events")
	}
	return nil
}

func (s *Session) allow(ruleName, key string, rule ratelimit.Rule, what string) *protocol.Error {
	if rule.Disabled() {
		return nil
	}
	d, err := s.hub.cfg.Limiter.Allow(context.Background(), key, rule)
	if err != nil {
		// Failing open keeps clients working when the limiter's store is
		// down; the error is logged for operators.
		s.hub.log.Error(err, "rate limiter unavailable", "userId", s.userID)
		return nil
	}
	if d.Allowed {
		s.hub.cfg.Metrics.RateLimitDecisions.WithLabelValues(ruleName, "allowed").Inc()
		return nil
	}
	s.hub.cfg.Metrics.RateLimitDecisions.WithLabelValues(ruleName, "blocked").Inc()
	e := protocol.Errorf(protocol.CodeRateLimited, "too many %s: the limit is %d per %s", what, rule.Limit, rule.Window)
	e.RetryAfterMs = max(d.RetryAfter.Milliseconds(), 1)
	return e
}

// noteBlocked counts a blocked event and closes the connection with 1008
// once the client keeps going past the abuse threshold. Only the reader
// goroutine touches the counters.
func (s *Session) noteBlocked() {
	rates := s.hub.cfg.Rates
	if rates.AbuseBlocked <= 0 {
		return
	}
	now := time.Now()
	if now.Sub(s.abuseSince) > rates.AbuseWindow {
		s.abuseSince, s.abuseCount = now, 0
	}
	s.abuseCount++
	if s.abuseCount == rates.AbuseBlocked {
		s.hub.log.Info("closing an abusive connection", "userId", s.userID, "socketId", s.meta.ConnID,
			"blocked", s.abuseCount, "window", rates.AbuseWindow.String())
		s.close(closePolicyViolation)
	}
}

func (s *Session) replyAck(f Frame, data any) {
	if !f.HasID {
		return
	}
	b, err := json.Marshal(data)
	if err != nil {
		s.replyError(f, protocol.Errorf(protocol.CodeInternal, "internal error"))
		return
	}
	if frame, err := s.codec.EncodeAck(f.ID, b); err == nil {
		s.sendFrame(frame)
	}
}

func (s *Session) replyError(f Frame, e *protocol.Error) {
	if frame, err := s.codec.EncodeError(f.ID, f.HasID, e); err == nil {
		s.sendFrame(frame)
	}
}

// Frame is the decoded client frame handlers receive.
type Frame = protocol.Frame

// PongReply answers ping.
type PongReply struct {
	Timestamp string `json:"timestamp"`
}

// handlePing answers with an ack when the frame has an id, else with a
// "pong" event, as the replaced service did.
func (s *Session) handlePing(f Frame) (any, *protocol.Error) {
	r := PongReply{Timestamp: time.Now().UTC().Format(message.TimestampFormat)}
	if !f.HasID {
		s.sendEvent("pong", r)
	}
	return r, nil
}

// maxAckIDs bounds one ack_messages frame.
const maxAckIDs = 1000

// AckRequest is the data of ack_messages.
type AckRequest struct {
	IDs []string `json:"ids"`
}

// AckReply answers ack_messages.
type AckReply struct {
	Removed int `json:"removed"`
}

// handleAckMessages removes acknowledged messages from the user's queue.
// Ids that are not queued (live messages, or already removed) are ignored,
// so a client may simply acknowledge every message id it receives.
func (s *Session) handleAckMessages(f Frame) (any, *protocol.Error) {
	var req AckRequest
	if len(f.Data) == 0 || json.Unmarshal(f.Data, &req) != nil || len(req.IDs) == 0 {
		return nil, protocol.Errorf(protocol.CodeInvalidData, `ack_messages needs data {"ids": ["<message id>", ...]}`)
	}
	if len(req.IDs) > maxAckIDs {
		return nil, protocol.Errorf(protocol.CodeInvalidData, "ack_messages takes at most %d ids per frame", maxAckIDs)
	}
	n, err := s.hub.cfg.Queue.Remove(context.Background(), s.userID, req.IDs)
	if err != nil {
		s.hub.log.Error(err, "acknowledged messages could not be removed", "userId", s.userID)
		return nil, protocol.Errorf(protocol.CodeInternal, "the acknowledgement could not be recorded; send it again")
	}
	return AckReply{Removed: n}, nil
}

// customEventPattern is what a forwarded event's name must look like.
var customEventPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.:\-]{0,63}$`)

// forward sends a custom event to the backend on its own goroutine and
// reports whether it took the frame. The reply (ack or error) comes when
// the backend answers, so a slow backend never stalls this connection's
// other events; the proxy's concurrency cap bounds the goroutines.
func (s *Session) forward(f Frame) bool {
	fw := s.hub.cfg.Forwarder
	if fw == nil || !customEventPattern.MatchString(f.Event) {
		return false
	}
	m := s.hub.cfg.Metrics
	if !fw.TryAcquire() {
		m.RPCCalls.WithLabelValues(string(rpcproxy.CodeBusy)).Inc()
		s.replyError(f, rpcproxy.BusyError())
		return true
	}
	call := rpcproxy.Call{Event: f.Event, Data: f.Data, User: rpcproxy.Caller{
		UserID: s.userID, Email: s.claims.Email, Roles: s.claims.Roles, Teams: s.claims.Teams,
		Tier: s.claims.Tier, ConnectionID: s.meta.ConnID,
	}}
	go func() {
		defer fw.Release()
		start := time.Now()
		data, perr := fw.Forward(context.Background(), call, message.NewID())
		m.RPCDuration.Observe(time.Since(start).Seconds())
		if perr != nil {
			m.RPCCalls.WithLabelValues(string(perr.Code)).Inc()
			s.replyError(f, perr)
			return
		}
		m.RPCCalls.WithLabelValues("ok").Inc()
		if f.HasID {
			if frame, err := s.codec.EncodeAck(f.ID, data); err == nil {
				s.sendFrame(frame)
			}
		}
	}()
	return true
}

// queueStatsTop is how many of the deepest queues request_queue_stats lists.
const queueStatsTop = 10

// handleQueueStats answers admins with the queue report: as the ack when
// the frame has an id, else as a "queue_stats" message, the event the
// replaced service sent.
func (s *Session) handleQueueStats(f Frame) (any, *protocol.Error) {
	if !s.claims.HasRole(auth.RoleAdmin) {
		return nil, protocol.Errorf(protocol.CodeForbidden, "request_queue_stats needs the admin role")
	}
	rep, err := s.hub.QueueReport(context.Background(), queueStatsTop)
	if err != nil {
		s.hub.log.Error(err, "queue report failed")
		return nil, protocol.Errorf(protocol.CodeInternal, "queue statistics are unavailable")
	}
	if !f.HasID {
		payload, _ := json.Marshal(rep)
		s.deliver(newOutbound(message.New("queue_stats", payload, message.PriorityNormal)), false)
	}
	return rep, nil
}

// ChannelsRequest is the data of subscribe and unsubscribe.
type ChannelsRequest struct {
	Channels []string `json:"channels"`
	// Since maps a channel to the id of the last message the client saw
	// on it, to recover what it missed (subscribe only).
	Since map[string]string `json:"since,omitempty"`
}

// ChannelResult is the outcome for one channel.
type ChannelResult struct {
	Channel string          `json:"channel"`
	OK      bool            `json:"ok"`
	Error   *protocol.Error `json:"error,omitempty"`
	// Recovered answers a since entry: true when every missed message was
	// replayed, false when the gap is larger than the history.
	Recovered *bool `json:"recovered,omitempty"`
}

// ChannelsReply is the ack of subscribe and unsubscribe: one result per
// requested channel, in request order.
type ChannelsReply struct {
	Results []ChannelResult `json:"results"`
}

func parseChannels(f Frame) (ChannelsRequest, *protocol.Error) {
	var req ChannelsRequest
	if len(f.Data) == 0 {
		return req, protocol.Errorf(protocol.CodeInvalidData, `%s needs data {"channels": [...]}`, f.Event)
	}
	if err := json.Unmarshal(f.Data, &req); err != nil {
		return req, protocol.Errorf(protocol.CodeInvalidData, `%s data must be {"channels": [string, ...]}`, f.Event)
	}
	if len(req.Channels) == 0 {
		return req, protocol.Errorf(protocol.CodeInvalidData, `%s needs at least one channel in "channels"`, f.Event)
	}
	if len(req.Channels) > maxChannelsPerRequest {
		return req, protocol.Errorf(protocol.CodeInvalidData, "%s takes at most %d channels per frame", f.Event, maxChannelsPerRequest)
	}
	return req, nil
}

// handleSubscribe authorizes and subscribes each requested channel. Frames
// without an id get an "error" event for each refused channel instead.
func (s *Session) handleSubscribe(f Frame) (any, *protocol.Error) {
	req, perr := parseChannels(f)
	if perr != nil {
		return nil, perr
	}
	reply := ChannelsReply{Results: make([]ChannelResult, 0, len(req.Channels))}
	for _, ch := range req.Channels {
		r := ChannelResult{Channel: ch, OK: true}
		_, recover := req.Since[ch]
		if recover {
			s.holdChannel(ch)
		}
		if err := s.subscribe(ch); err != nil {
			r.OK, r.Error = false, err
			if !f.HasID {
				s.replyError(f, err)
			}
			if recover {
				s.releaseChannel(ch, nil)
			}
		}
		reply.Results = append(reply.Results, r)
	}
	// The ack means the subscription is live across the fleet: a
	// publication made after it reaches this connection.
	ctx, cancel := context.WithTimeout(context.Background(), brokerSyncWait)
	defer cancel()
	if err := s.hub.cfg.Broker.Sync(ctx); err != nil {
		s.hub.log.Error(err, "broker subscription not confirmed", "userId", s.userID)
	}
	for i, r := range reply.Results {
		if last, ok := req.Since[r.Channel]; ok && r.OK {
			recovered := s.recoverChannel(ctx, r.Channel, last)
			reply.Results[i].Recovered = &recovered
		}
	}
	return reply, nil
}

// holdChannel starts holding live publications of ch for this session,
// so that the missed ones replayed by recoverChannel come first.
func (s *Session) holdChannel(ch string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recovering == nil {
		s.recovering = map[string][]*outbound{}
	}
	s.recovering[ch] = nil
}

// releaseChannel sends the missed messages, then the held live ones that
// were not among them, and stops holding ch.
func (s *Session) releaseChannel(ch string, missed []*message.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[string]bool, len(missed))
	for _, m := range missed {
		seen[m.ID] = true
		s.sendLocked(newOutbound(m), false)
	}
	for _, out := range s.recovering[ch] {
		if !seen[out.msg.ID] {
			s.sendLocked(out, false)
		}
	}
	delete(s.recovering, ch)
	if len(s.recovering) == 0 {
		s.recovering = nil
	}
}

// recoverChannel replays what ch published after lastID and reports
// whether the history still reached back that far.
func (s *Session) recoverChannel(ctx context.Context, ch, lastID string) bool {
	_, ttl, ok := s.hub.cfg.Policy.HistoryFor(ch)
	if !ok {
		s.releaseChannel(ch, nil)
		return false
	}
	missed, recovered, err := s.hub.cfg.History.Since(ctx, ch, lastID, ttl)
	if err != nil {
		s.hub.log.Error(err, "channel history unavailable", "channel", ch)
		recovered, missed = false, nil
	}
	s.releaseChannel(ch, missed)
	return recovered
}

func (s *Session) subscribe(ch string) *protocol.Error {
	if err := s.hub.cfg.Policy.Authorize(s.claims, ch); err != nil {
		return asProtocolError(err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return protocol.Errorf(protocol.CodeInternal, "connection is closing")
	}
	if slices.Contains(s.channels, ch) {
		s.mu.Unlock()
		return nil
	}
	if len(s.channels) >= s.hub.cfg.MaxChannelsPerConnection {
		s.mu.Unlock()
		return protocol.Errorf(protocol.CodeTooManyChannels, "a connection may subscribe to at most %d channels", s.hub.cfg.MaxChannelsPerConnection)
	}
	s.channels = append(s.channels, ch)
	s.mu.Unlock()
	s.hub.cfg.Metrics.Subscriptions.Inc()
	s.hub.subscribeChannel(s, ch)
	return nil
}

func (s *Session) handleUnsubscribe(f Frame) (any, *protocol.Error) {
	req, perr := parseChannels(f)
	if perr != nil {
		return nil, perr
	}
	reply := ChannelsReply{Results: make([]ChannelResult, 0, len(req.Channels))}
	for _, ch := range req.Channels {
		s.mu.Lock()
		i := slices.Index(s.channels, ch)
		had := i >= 0
		if had {
			s.channels = slices.Delete(s.channels, i, i+1)
		}
		s.mu.Unlock()
		if had {
			s.hub.cfg.Metrics.Subscriptions.Dec()
			s.hub.unsubscribeChannel(s, ch)
		}
		reply.Results = append(reply.Results, ChannelResult{Channel: ch, OK: true})
	}
	return reply, nil
}

// subscribeChannel adds s to the channel's subscribers, subscribing the
// node to the channel's topic for its first local subscriber.
func (h *Hub) subscribeChannel(s *Session, ch string) {
	sh := h.chanShard(ch)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	subs := sh.chans[ch]
	if subs == nil {
		subs = make(map[*Session]struct{}, 1)
		sh.chans[ch] = subs
		h.cfg.Metrics.Channels.Inc()
		if err := h.cfg.Broker.Subscribe(context.Background(), topicChannelPrefix+ch); err != nil {
			h.log.Error(err, "broker subscribe failed", "channel", ch)
		}
	}
	subs[s] = struct{}{}
}

func (h *Hub) unsubscribeChannel(s *Session, ch string) {
	sh := h.chanShard(ch)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	subs := sh.chans[ch]
	delete(subs, s)
	if len(subs) == 0 && subs != nil {
		delete(sh.chans, ch)
		h.cfg.Metrics.Channels.Dec()
		if err := h.cfg.Broker.Unsubscribe(context.Background(), topicChannelPrefix+ch); err != nil {
			h.log.Error(err, "broker unsubscribe failed", "channel", ch)
		}
	}
}
