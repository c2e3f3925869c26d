package hub

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/protocol"
)

// Frame is the decoded client frame handlers receive.
type Frame = protocol.Frame

// eventHandler handles one client event. It returns the ack's data, or
// the error the client gets instead.
type eventHandler func(s *Session, f Frame) (any, *protocol.Error)

// clientEvents is every event the hub itself handles, whichever protocol
// carried it (native frames and Socket.IO events both dispatch here).
// Other names go to the Forwarder, when there is one. Its keys also bound
// the event label of messages_received_total.
var clientEvents = map[string]eventHandler{
	"ping":                (*Session).handlePing,
	"subscribe":           (*Session).handleSubscribe,
	"unsubscribe":         (*Session).handleUnsubscribe,
	"request_queue_stats": (*Session).handleQueueStats,
	"ack_messages":        (*Session).handleAckMessages,
	"history":             (*Session).handleHistory,
	"refresh":             (*Session).handleRefresh,
	"publish":             (*Session).handlePublish,
	"presence":            (*Session).handlePresence,
	"presence_stats":      (*Session).handlePresenceStats,
}

// HandleFrame applies the event rate limit to one decoded client frame
// and runs the event's handler. A frame with an id gets exactly one reply.
// The transport calls it for each frame, one at a time and in order.
func (s *Session) HandleFrame(f Frame) {
	if s.cutOff {
		return
	}
	s.hub.cfg.Metrics.MessagesReceived.WithLabelValues(eventLabel(f.Event)).Inc()
	if perr := s.checkRate(f.Event); perr != nil {
		s.replyError(f, perr)
		s.noteBlocked()
		return
	}
	handle, ok := clientEvents[f.Event]
	if !ok {
		if s.forward(f) {
			return // answered when the backend replies
		}
		s.replyError(f, protocol.Errorf(protocol.CodeUnknownEvent, "unknown event %q", f.Event))
		return
	}
	reply, perr := handle(s, f)
	if perr == errAnswered {
		return // the handler answers later
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
	if _, ok := clientEvents[e]; ok {
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
	n, err := s.hub.cfg.Queue.Remove(s.hub.ctx, s.userID, req.IDs)
	if err != nil {
		s.hub.log.Error(err, "acknowledged messages could not be removed", "userId", s.userID)
		return nil, protocol.Errorf(protocol.CodeInternal, "the acknowledgement could not be recorded; send it again")
	}
	return AckReply{Removed: n}, nil
}

// Acknowledge takes the message id out of the user's queue, as
// ack_messages does, for transports that carry acknowledgements
// themselves (a Socket.IO event's callback).
func (s *Session) Acknowledge(id string) {
	if _, err := s.hub.cfg.Queue.Remove(s.hub.ctx, s.userID, []string{id}); err != nil {
		s.hub.log.Error(err, "acknowledged message could not be removed; it will come again", "userId", s.userID, "messageId", id)
	}
}

// queueStatsTop is how many of the deepest queues request_queue_stats lists.
const queueStatsTop = 10

// handleQueueStats answers admins with the queue report: as the ack when
// the frame has an id, else as a "queue_stats" message, the event the
// replaced service sent.
func (s *Session) handleQueueStats(f Frame) (any, *protocol.Error) {
	if !s.Claims().HasRole(auth.RoleAdmin) {
		return nil, protocol.Errorf(protocol.CodeForbidden, "request_queue_stats needs the admin role")
	}
	rep, err := s.hub.QueueReport(s.hub.ctx, queueStatsTop)
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
