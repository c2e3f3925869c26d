package hub

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/channel"
	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/protocol"
	"github.com/fleetwire/fleetwire/runtime/schedule"
)

// Meta describes where a connection came from, for logs, and what it
// asked for.
type Meta struct {
	ConnID    string
	IP        string
	UserAgent string
	RequestID string
	// AckQueued leaves queued messages in the queue until the client
	// acknowledges them with ack_messages (the client connected with
	// acks=1). Otherwise they leave the queue when they are sent.
	AckQueued bool
	// RecoveryID is the session's private id for connection state
	// recovery (Socket.IO's pid); "" when its client cannot recover it.
	RecoveryID string
	// Recover, when set, is the earlier session this one takes over (see
	// PlanRecovery).
	Recover *Recovery
	// Recovered tells the client, in "connected", that nothing was missed.
	Recovered bool
}

// replayLimit bounds one connect's replay when queued messages stay in
// the queue until acknowledged; it matches the largest allowed queue.
const replayLimit = 100000

// closeReason pairs a close code with its text and its metric label.
type closeReason struct {
	code   int
	reason string
	label  string
}

var (
	closeServiceRestart  = closeReason{protocol.CloseServiceRestart, "service restart", "service_restart"}
	closeTokenExpired    = closeReason{protocol.CloseTokenExpired, "token expired", "token_expired"}
	closeTokenRevoked    = closeReason{protocol.CloseTokenRevoked, "token revoked", "token_revoked"}
	closeSlowConsumer    = closeReason{protocol.CloseSlowConsumer, "slow consumer", "slow_consumer"}
	closeHeartbeat       = closeReason{protocol.CloseHeartbeatTimeout, "heartbeat timeout", "heartbeat_timeout"}
	closeByAdmin         = closeReason{protocol.CloseAdminDisconnect, "disconnected by an administrator", "admin"}
	closePolicyViolation = closeReason{protocol.ClosePolicyViolation, "rate limit abuse", "policy_violation"}
)

// brokerSyncWait bounds how long a connect waits for the broker to confirm
// the user's subscription before it reads the queue anyway.
const brokerSyncWait = 2 * time.Second

// writerStopWait bounds how long removal waits for an aborted
// connection's writer; its writes fail at once on a closed socket.
const writerStopWait = time.Second

// closedByClient labels sessions that ended without a server close: the
// client closed, or the connection was lost.
const closedByClient = "client"

// Session is one authenticated connection on this node.
type Session struct {
	hub   *Hub
	conn  Conn
	codec protocol.Codec
	// claims are the token's; a refresh replaces them (refresh.go).
	claims atomic.Pointer[auth.Claims]
	userID string
	meta   Meta
	since  time.Time // when Accept took the connection

	mu        sync.Mutex
	channels  []string    // subscribed channels; a slice is smaller than a map at these sizes
	replaying bool        // the offline queue is being delivered
	held      []*outbound // user messages that arrived during the replay
	closed    bool
	closedBy  string // metric label of the server-side close, if any
	// recovering holds live publications of channels whose missed
	// history is being replayed; nil when none is.
	recovering map[string][]*outbound
	// sent is what a recoverable session (Meta.RecoveryID) remembers of
	// what it sent; nil for others, and until the first message.
	sent *sentState

	heartbeat *schedule.Entry
	expiry    *schedule.Entry // the close at the token's exp
	expiring  *schedule.Entry // the token_expiring warning before it

	// Rate-limit abuse tracking; only the reader touches these.
	abuseSince time.Time
	abuseCount int
	// cutOff is set once the connection is closed for abuse: the frames
	// it still sends until the TCP connection ends are dropped undecoded.
	cutOff bool
}

// Accept turns an authenticated connection into a session: it registers
// the session, announces presence, sends "connected" and delivers the
// user's offline queue in order. The caller then hands the session the
// client's frames (Receive or HandleFrame) and calls End once the
// connection has stopped.
func (h *Hub) Accept(conn Conn, codec protocol.Codec, claims *auth.Claims, meta Meta) (*Session, error) {
	if h.closing.Load() {
		conn.Close(closeServiceRestart.code, closeServiceRestart.reason)
		return nil, ErrClosing
	}
	s := &Session{hub: h, conn: conn, codec: codec, userID: claims.UserID(), meta: meta, replaying: true, since: time.Now()}
	s.claims.Store(claims)
	h.count.Add(1)
	h.cfg.Metrics.ActiveConnections.Inc()
	h.cfg.Metrics.ConnectionsOpened.Inc()
	h.register(s)
	h.log.Info("client connected", "userId", s.userID, "socketId", meta.ConnID, "ip", meta.IP,
		"userAgent", meta.UserAgent, "requestId", meta.RequestID, "transport", codec.Name())
	// Only the connect line needs these; dropping them keeps idle sessions small.
	s.meta.UserAgent, s.meta.RequestID = "", ""
	ctx := h.ctx
	if first, err := h.cfg.Presence.Join(ctx, s.userID, s.presenceID()); err != nil {
		h.log.Error(err, "presence join failed", "userId", s.userID, "socketId", meta.ConnID)
	} else if first {
		h.announcePresence(s.userID, "online")
	}
	// The user's topic must be live at the broker before the queue is read:
	// a message published in between would otherwise go to the queue after
	// the read and wait there until the next connect.
	syncCtx, cancel := context.WithTimeout(ctx, brokerSyncWait)
	if err := h.cfg.Broker.Sync(syncCtx); err != nil {
		h.log.Error(err, "broker subscription not confirmed", "userId", s.userID)
	}
	cancel()
	s.sendEvent("connected", connectedData{
		ConnectionID:        meta.ConnID,
		SocketID:            meta.ConnID,
		UserID:              s.userID,
		ServerTime:          time.Now().UTC().Format(message.TimestampFormat),
		HeartbeatIntervalMs: h.cfg.HeartbeatInterval.Milliseconds(),
		Recovered:           meta.Recovered,
	})
	s.replayQueue(ctx)
	if plan := meta.Recover; plan != nil {
		s.meta.Recover = nil
		s.recoverChannels(ctx, plan)
	}
	s.subscribeRemembered(ctx)
	s.saveRecovery(ctx)
	s.startTimers()
	return s, nil
}

type connectedData struct {
	ConnectionID        string `json:"connectionId"`
	SocketID            string `json:"socketId"`
	UserID              string `json:"userId"`
	ServerTime          string `json:"serverTime"`
	HeartbeatIntervalMs int64  `json:"heartbeatIntervalMs"`
	// Recovered is true when the session took over an earlier one and
	// nothing was missed (connection state recovery).
	Recovered bool `json:"recovered,omitempty"`
}

// register adds s to its user's sessions. The user's broker topic is
// subscribed under the shard lock, so a concurrent last-leave of the same
// user cannot unsubscribe after this join subscribed.
func (h *Hub) register(s *Session) {
	sh := h.userShard(s.userID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.users[s.userID]) == 0 {
		if err := h.cfg.Broker.Subscribe(h.ctx, topicUserPrefix+s.userID); err != nil {
			h.log.Error(err, "broker subscribe failed", "userId", s.userID)
		}
	}
	sh.users[s.userID] = append(sh.users[s.userID], s)
}

// unregister removes s from its user's sessions.
func (h *Hub) unregister(s *Session) {
	sh := h.userShard(s.userID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := sh.users[s.userID]
	for i, x := range list {
		if x == s {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) > 0 {
		sh.users[s.userID] = list
		return
	}
	delete(sh.users, s.userID)
	// Teardown outlives the hub's context: a session that ends during
	// shutdown still leaves the broker and presence cleanly.
	if err := h.cfg.Broker.Unsubscribe(context.Background(), topicUserPrefix+s.userID); err != nil {
		h.log.Error(err, "broker unsubscribe failed", "userId", s.userID)
	}
}

// hasOtherSessions reports whether the user of s has another open session
// on this node.
func (h *Hub) hasOtherSessions(s *Session) bool {
	sh := h.userShard(s.userID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, x := range sh.users[s.userID] {
		if x != s && !x.conn.Closed() {
			return true
		}
	}
	return false
}

// announcePresence publishes user_presence on presence:<userId>.
func (h *Hub) announcePresence(userID, status string) {
	payload, _ := json.Marshal(map[string]string{"userId": userID, "status": status})
	msg := message.New("user_presence", payload, message.PriorityNormal)
	if _, err := h.Publish(h.ctx, channel.NamespacePresence+":"+userID, msg); err != nil {
		h.log.Error(err, "presence announcement failed", "userId", userID)
	}
}

// replayQueue delivers the user's offline queue, then whatever arrived for
// the user while it ran, and only then lets new messages straight through.
func (s *Session) replayQueue(ctx context.Context) {
	var msgs []*message.Message
	var err error
	if s.meta.AckQueued {
		msgs, _, err = s.hub.cfg.Queue.Peek(ctx, s.userID, replayLimit)
	} else {
		msgs, err = s.hub.cfg.Queue.Drain(ctx, s.userID)
	}
	if err != nil {
		s.hub.log.Error(err, "offline queue could not be read", "userId", s.userID)
	}
	if plan := s.meta.Recover; plan != nil {
		msgs = skipRead(msgs, plan.Offset)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	replayed := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		replayed[m.ID] = true
		c := *m
		c.Queued = true
		if s.meta.AckQueued {
			// Still in the queue until acknowledged: nothing to salvage.
			s.sendLocked(newOutbound(&c), false)
			continue
		}
		// A send fails only when the connection is already closing; from
		// then on every message goes back to the queue, so the order is
		// kept.
		if !s.sendLocked(newOutbound(&c), true) {
			s.hub.requeue(s.userID, m)
		}
	}
	for _, out := range s.held {
		if replayed[out.msg.ID] {
			continue // durable mode queued it before publishing it
		}
		if !s.sendLocked(out, true) && !s.hub.cfg.DurableUserMessages {
			s.hub.requeue(s.userID, out.msg)
		}
	}
	s.held, s.replaying = nil, false
}

// deliver hands out to the connection. It reports whether the session took
// it; a closed or overflowing session did not.
func (s *Session) deliver(out *outbound, toUser bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.replaying && toUser {
		s.held = append(s.held, out)
		return true
	}
	if !toUser && out.msg.Channel != "" {
		if held, ok := s.recovering[out.msg.Channel]; ok {
			s.recovering[out.msg.Channel] = append(held, out)
			return true
		}
		// A fan-out worker may deliver after the session left the
		// channel (fanout.go).
		if !slices.Contains(s.channels, out.msg.Channel) {
			return false
		}
	}
	return s.sendLocked(out, toUser)
}

func (s *Session) sendLocked(out *outbound, toUser bool) bool {
	pm, err := out.prepared(s.codec)
	if err != nil {
		s.hub.log.Error(err, "message could not be encoded", "messageId", out.msg.ID)
		return false
	}
	o := protocol.Outgoing{Size: pm.Len(), Accepted: out.msg.Accepted}
	if s.meta.AckQueued && (toUser || out.msg.Queued) {
		o.AckID = out.msg.ID
	}
	switch {
	case toUser && s.hub.cfg.DurableUserMessages && !(out.msg.Queued && !s.meta.AckQueued):
		// Already queued: nothing to salvage. A plain connection takes it
		// out of the queue once written; an acks=1 one when acknowledged.
		// (A queued message replayed to a plain connection was drained
		// from the queue at connect: it is tagged below, so that it goes
		// back if the connection ends before the client has it.)
		if !s.meta.AckQueued {
			id := out.msg.ID
			o.OnWritten = func() { s.hub.removeDelivered(s.userID, id) }
		}
	case toUser:
		o.Tag = out.msg
	case s.meta.RecoveryID != "" && out.msg.Channel != "":
		o.OnWritten = s.noteRead(out.msg)
	}
	switch err := s.conn.SendPrepared(pm, o); {
	case err == nil:
		out.sentCounter(s.hub.cfg.Metrics).Inc()
		s.noteSentLocked(out.msg, toUser)
		return true
	case errors.Is(err, protocol.ErrQueueFull):
		// The client cannot keep up. What it has not been sent yet goes
		// back to the user's queue, then the connection is closed. Closing
		// under the session lock is safe: it only queues a close frame.
		s.salvageLocked()
		s.hub.cfg.Metrics.SlowConsumers.Inc()
		s.closeLocked(closeSlowConsumer)
	}
	return false
}

// salvageLocked takes the messages addressed to the user that are still
// waiting in the connection's outbound queue and puts them back in the
// user's offline queue, unless another session of the user on this node
// received them too. Holding s.mu keeps them ahead of anything delivered
// to the user later.
func (s *Session) salvageLocked() {
	unsent := s.conn.DropPending()
	if len(unsent) == 0 || s.hub.hasOtherSessions(s) {
		return
	}
	for _, tag := range unsent {
		if m, ok := tag.(*message.Message); ok {
			s.hub.requeue(s.userID, m)
		}
	}
}

// ReconnectData is the data of the "reconnect" event a draining node sends
// before closing a connection.
type ReconnectData struct {
	DelayMs int64  `json:"delayMs"`
	Reason  string `json:"reason"`
}

func (s *Session) sendReconnect(delay time.Duration, why closeReason) {
	s.sendEvent("reconnect", ReconnectData{DelayMs: delay.Milliseconds(), Reason: why.reason})
}

// sendEvent sends a protocol event (not an application message) to this
// connection only.
func (s *Session) sendEvent(event string, data any) {
	b, err := json.Marshal(data)
	if err != nil {
		s.hub.log.Error(err, "event could not be encoded", "event", event)
		return
	}
	s.sendRawEvent(event, b)
}

// sendRawEvent sends a protocol event whose data is already JSON.
func (s *Session) sendRawEvent(event string, data []byte) {
	if frame, err := s.codec.EncodeEvent(event, data); err == nil {
		s.sendFrame(frame)
	}
}

func (s *Session) sendFrame(frame []byte) {
	if err := s.conn.SendText(frame); errors.Is(err, protocol.ErrQueueFull) {
		s.close(closeSlowConsumer)
	}
}

func (s *Session) close(r closeReason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked(r)
}

func (s *Session) closeLocked(r closeReason) {
	if s.closed {
		return
	}
	s.closed, s.closedBy = true, r.label
	s.hub.log.Info("closing client connection", "userId", s.userID, "socketId", s.meta.ConnID, "code", r.code, "reason", r.reason)
	s.conn.Close(r.code, r.reason)
}

// startTimers schedules the heartbeat, for a connection that takes the
// hub's (Heartbeater), and, if the token expires, the close at expiry.
func (s *Session) startTimers() {
	sched := s.hub.cfg.Scheduler
	if _, ok := s.conn.(Heartbeater); ok {
		s.heartbeat = sched.At(time.Now().Add(s.hub.cfg.HeartbeatInterval), s.onHeartbeat)
	}
	s.scheduleExpiry(s.Claims().Expiry())
}

// onHeartbeat runs on the scheduler goroutine: it only checks a timestamp
// and queues a ping or a close.
func (s *Session) onHeartbeat() {
	hb := s.conn.(Heartbeater) // startTimers schedules it for no other
	if s.conn.Closed() {
		return
	}
	if time.Since(hb.LastRead()) > s.hub.cfg.HeartbeatTimeout {
		s.close(closeHeartbeat)
		return
	}
	_ = hb.Ping()
	s.hub.cfg.Scheduler.Reset(s.heartbeat, time.Now().Add(s.hub.cfg.HeartbeatInterval))
}

// Receive decodes one client frame with the session's codec and handles
// it. The transport calls it for each frame, one at a time and in order.
func (s *Session) Receive(p []byte) {
	if s.cutOff {
		return
	}
	f, err := s.codec.Decode(p)
	if err != nil {
		s.Reject(f, err)
		return
	}
	s.HandleFrame(f)
}

// Reject counts a frame the transport could not turn into a valid one and
// answers it with err (a *protocol.Error, else "internal"); f carries the
// id to answer, when it had one.
func (s *Session) Reject(f Frame, err error) {
	s.hub.cfg.Metrics.MessagesReceived.WithLabelValues("invalid").Inc()
	s.replyError(f, asProtocolError(err))
}

// End tears the session down once its transport has stopped handing it
// frames; err says why the connection ended, for the debug log. The
// transport calls it exactly once.
func (s *Session) End(err error) {
	if err != nil {
		s.hub.log.V(1).Info("connection ended", "socketId", s.meta.ConnID, "reason", err.Error())
	}
	s.remove()
}

// remove tears the session down once its transport has stopped.
func (s *Session) remove() {
	h := s.hub
	h.cfg.Scheduler.Cancel(s.heartbeat)
	s.mu.Lock()
	s.closed = true
	// Under s.mu: a refresh may be replacing them (tokenrefresh.go).
	h.cfg.Scheduler.Cancel(s.expiry)
	h.cfg.Scheduler.Cancel(s.expiring)
	// Cut the socket and let the writer finish failing, so that what it
	// had not written is back in the queue, then salvage it; all under
	// s.mu, so later messages for the user queue up behind it.
	s.conn.Abort()
	s.conn.WaitIdle(writerStopWait)
	s.salvageLocked()
	chans := s.channels
	s.channels = nil
	reason := s.closedBy
	s.mu.Unlock()
	if reason == "" {
		reason = closedByClient
	}
	h.cfg.Metrics.ActiveConnections.Dec()
	h.cfg.Metrics.ConnectionsClosed.WithLabelValues(reason).Inc()
	s.saveRecoveryOf(chans)
	for _, ch := range chans {
		h.cfg.Metrics.Subscriptions.Dec()
		h.unsubscribeChannel(s, ch)
		h.leavePresence(s, ch)
	}
	h.unregister(s)
	ctx := context.Background() // as in unregister
	if gone, err := h.cfg.Presence.Leave(ctx, s.userID, s.presenceID()); err != nil {
		h.log.Error(err, "presence leave failed", "userId", s.userID)
	} else if gone {
		h.announcePresence(s.userID, "offline")
	}
	h.log.Info("client disconnected", "userId", s.userID, "socketId", s.meta.ConnID, "ip", s.meta.IP, "reason", reason)
	// The count first: while a shed session is counted in neither, the
	// rebalance loop sees the node one lower, never one higher.
	n := h.count.Add(-1)
	if reason == closeRebalance.label {
		h.rebalance.leaving.Add(-1)
	}
	if n == 0 && h.closing.Load() {
		h.emptyOnce.Do(func() { close(h.emptied) })
	}
}

func (s *Session) channelList() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.channels)
	slices.Sort(out)
	return out
}
