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

// forward sends a custom event to the backend on a goroutine the hub owns and
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
		UserID: s.userID, Email: s.Claims().Email, Roles: s.Claims().Roles, Teams: s.Claims().Teams,
		Tier: s.Claims().Tier, ConnectionID: s.meta.ConnID,
	}}
	started := s.hub.spawn(func(ctx context.Context) {
		defer fw.Release()
		start := time.Now()
		data, perr := fw.Forward(ctx, call, message.NewID())
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
	})
	if !started {
		fw.Release()
		s.replyError(f, protocol.Errorf(protocol.CodeInternal, "the server is shutting down"))
	}
	return true
}
