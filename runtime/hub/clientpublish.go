package hub

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/protocol"
)

// Client publishing: a connection publishes into a channel with the
// publish event, where the namespace's rule allows it (channel.Rule's
// publish: subscribers or roles). The publish counts against the event
// rate limits like any event, its frame against the message size limit,
// and its type against the allow-list; it is then published exactly as
// POST /ws/publish publishes, recorded in the history first. A namespace
// with publishProxy sends it to the RPC proxy first, and publishes it only
// if the backend accepts it.

// PublishEvent is the data of publish.
type PublishEvent struct {
	Channel  string          `json:"channel"`
	Type     string          `json:"type"`
	Payload  json.RawMessage `json:"payload"`
	Priority string          `json:"priority"`
}

// handlePublish checks a client publish and publishes it, through the RPC
// proxy first when the namespace asks for it.
func (s *Session) handlePublish(f Frame) (any, *protocol.Error) {
	var req PublishEvent
	if len(f.Data) == 0 || json.Unmarshal(f.Data, &req) != nil || req.Channel == "" || req.Type == "" {
		return nil, protocol.Errorf(protocol.CodeInvalidData, `publish needs data {"channel": "<name>", "type": "<type>", "payload"?: …}`)
	}
	if err := message.ValidateType(req.Type, s.hub.cfg.AllowedTypes); err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidData, "%s", err.Error())
	}
	prio, err := message.ParsePriority(req.Priority)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidData, "%s", err.Error())
	}
	proxy, err := s.hub.cfg.Policy.AuthorizePublish(s.Claims(), req.Channel, s.subscribedTo(req.Channel))
	if err != nil {
		return nil, asProtocolError(err)
	}
	msg := message.New(req.Type, req.Payload, prio)
	msg.Publisher = s.userID
	if !proxy {
		return s.publishNow(req.Channel, msg)
	}
	s.publishThroughProxy(f, req.Channel, msg)
	return nil, errAnswered
}

// errAnswered tells HandleFrame that the handler answers the frame itself,
// later.
var errAnswered = &protocol.Error{Code: "answered"}

func (s *Session) publishNow(ch string, msg *message.Message) (any, *protocol.Error) {
	ctx, cancel := context.WithTimeout(s.hub.ctx, clientPublishWait)
	defer cancel()
	d, err := s.hub.Publish(ctx, ch, msg)
	if err != nil {
		s.hub.log.Error(err, "client publish refused", "channel", ch, "userId", s.userID)
		if errors.Is(err, ErrUnavailable) {
			return nil, protocol.Errorf(protocol.CodeStoreUnavailable, "the publication was not taken; retry")
		}
		return nil, protocol.Errorf(protocol.CodeInternal, "the publication failed")
	}
	return d, nil
}

// clientPublishWait bounds one client publish's store and broker calls.
const clientPublishWait = 5 * time.Second

// publishThroughProxy asks the backend first, as custom events do, and
// publishes once it accepts; the ack or error comes then.
func (s *Session) publishThroughProxy(f Frame, ch string, msg *message.Message) {
	if s.hub.cfg.Forwarder == nil {
		s.replyError(f, protocol.Errorf(protocol.CodeInternal, "the channel's publishes need the RPC proxy, which is not configured"))
		return
	}
	s.callBackend(f, "publish", msg.ID, func([]byte) {
		d, perr := s.publishNow(ch, msg)
		if perr != nil {
			s.replyError(f, perr)
			return
		}
		s.replyAck(f, d)
	})
}

// subscribedTo reports whether the session is subscribed to ch.
func (s *Session) subscribedTo(ch string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.channels {
		if c == ch {
			return true
		}
	}
	return false
}
