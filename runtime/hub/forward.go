package hub

import (
	"context"
	"regexp"
	"time"

	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/protocol"
	"github.com/fleetwire/fleetwire/runtime/rpcproxy"
)

// customEventPattern is what a forwarded event's name must look like.
var customEventPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.:\-]{0,63}$`)

// forward sends a custom event to the backend and reports whether it
// took the frame. The reply (ack or error) comes when the backend
// answers, so a slow backend never stalls this connection's other events.
func (s *Session) forward(f Frame) bool {
	if s.hub.cfg.Forwarder == nil || !customEventPattern.MatchString(f.Event) {
		return false
	}
	s.callBackend(f, f.Event, message.NewID(), func(data []byte) {
		if f.HasID {
			if frame, err := s.codec.EncodeAck(f.ID, data); err == nil {
				s.sendFrame(frame)
			}
		}
	})
	return true
}

// callBackend calls the RPC proxy with event and the frame's data, on a
// goroutine the hub owns (the proxy's concurrency cap bounds them), and
// runs ok with the backend's answer; a refusal is the frame's error
// reply. The Forwarder must be set.
func (s *Session) callBackend(f Frame, event, requestID string, ok func(data []byte)) {
	fw := s.hub.cfg.Forwarder
	m := s.hub.cfg.Metrics
	if !fw.TryAcquire() {
		m.RPCCalls.WithLabelValues(string(rpcproxy.CodeBusy)).Inc()
		s.replyError(f, rpcproxy.BusyError())
		return
	}
	c := s.Claims()
	call := rpcproxy.Call{Event: event, Data: f.Data, User: rpcproxy.Caller{
		UserID: s.userID, Email: c.Email, Roles: c.Roles, Teams: c.Teams, Tier: c.Tier, ConnectionID: s.meta.ConnID,
	}}
	started := s.hub.spawn(func(ctx context.Context) {
		defer fw.Release()
		start := time.Now()
		data, perr := fw.Forward(ctx, call, requestID)
		m.RPCDuration.Observe(time.Since(start).Seconds())
		if perr != nil {
			m.RPCCalls.WithLabelValues(string(perr.Code)).Inc()
			s.replyError(f, perr)
			return
		}
		m.RPCCalls.WithLabelValues("ok").Inc()
		ok(data)
	})
	if !started {
		fw.Release()
		s.replyError(f, protocol.Errorf(protocol.CodeInternal, "the server is shutting down"))
	}
}
