package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/fleetwire/fleetwire/runtime/chanpresence"
	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/protocol"
)

// Channel presence, for namespaces with presence on: who is on a channel,
// by user, across the fleet (the chanpresence store), and, with joinLeave,
// join and leave events to the channel's subscribers when a user's first
// connection subscribes and their last one leaves: once per user, not
// per tab. The events travel on a topic of their own per channel
// (topicJoinLeavePrefix), so they never mix with the channel's
// publications, its history or its gap fill.

// topicJoinLeavePrefix starts the topic of a channel's join and leave
// events.
const topicJoinLeavePrefix = "j:"

// Presence page sizes.
const (
	DefaultPresenceLimit = 100
	MaxPresenceLimit     = 1000
)

// ErrNoPresence is returned for a channel whose namespace records no
// presence.
var ErrNoPresence = errors.New("the channel's namespace records no presence")

// JoinLeaveData is the data of the join and leave events.
type JoinLeaveData struct {
	Channel string          `json:"channel"`
	UserID  string          `json:"userId"`
	Info    json.RawMessage `json:"info,omitempty"`
}

// PresencePage is one page of a channel's presence.
type PresencePage struct {
	Channel string                `json:"channel"`
	Members []chanpresence.Member `json:"members"`
	// More says users follow; ask again with after set to the last one.
	More bool `json:"more"`
}

// PresenceStats counts a channel's users and connections.
type PresenceStats struct {
	Channel string `json:"channel"`
	chanpresence.Stats
}

// ChannelPresence reads one page of the channel's users, after the user
// id after.
func (h *Hub) ChannelPresence(ctx context.Context, ch, after string, limit int) (PresencePage, error) {
	if on, _ := h.cfg.Policy.PresenceFor(ch); !on {
		return PresencePage{}, fmt.Errorf("%w: %s", ErrNoPresence, ch)
	}
	if limit <= 0 {
		limit = DefaultPresenceLimit
	}
	members, more, err := h.cfg.ChannelPresence.Members(ctx, ch, after, min(limit, MaxPresenceLimit))
	if err != nil {
		return PresencePage{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return PresencePage{Channel: ch, Members: members, More: more}, nil
}

// ChannelPresenceStats counts the channel's users and connections.
func (h *Hub) ChannelPresenceStats(ctx context.Context, ch string) (PresenceStats, error) {
	if on, _ := h.cfg.Policy.PresenceFor(ch); !on {
		return PresenceStats{}, fmt.Errorf("%w: %s", ErrNoPresence, ch)
	}
	st, err := h.cfg.ChannelPresence.Stats(ctx, ch)
	if err != nil {
		return PresenceStats{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return PresenceStats{Channel: ch, Stats: st}, nil
}

// joinPresence records s on ch, if the namespace records presence, and
// announces the user's first connection there.
func (h *Hub) joinPresence(s *Session, ch string) {
	on, joinLeave := h.cfg.Policy.PresenceFor(ch)
	if !on {
		return
	}
	info := s.Claims().Info
	first, err := h.cfg.ChannelPresence.Join(h.ctx, chanpresence.Conn{Channel: ch, UserID: s.userID, ConnID: s.presenceID(), Info: info})
	if err != nil {
		h.log.Error(err, "channel presence not recorded", "channel", ch, "userId", s.userID)
		return
	}
	if first && joinLeave {
		h.announceJoinLeave("join", JoinLeaveData{Channel: ch, UserID: s.userID, Info: info})
	}
}

// leavePresence forgets s on ch and announces the user's last connection
// leaving.
func (h *Hub) leavePresence(s *Session, ch string) {
	on, joinLeave := h.cfg.Policy.PresenceFor(ch)
	if !on {
		return
	}
	last, err := h.cfg.ChannelPresence.Leave(context.Background(), ch, s.userID, s.presenceID())
	if err != nil {
		h.log.Error(err, "channel presence not removed; it expires with its TTL", "channel", ch, "userId", s.userID)
		return
	}
	if last && joinLeave {
		h.announceJoinLeave("leave", JoinLeaveData{Channel: ch, UserID: s.userID})
	}
}

func (h *Hub) announceJoinLeave(kind string, d JoinLeaveData) {
	payload, err := json.Marshal(d)
	if err != nil {
		return
	}
	if _, err := h.publish(context.Background(), topicJoinLeavePrefix+d.Channel, message.New(kind, payload, message.PriorityNormal)); err != nil {
		h.log.Error(err, "join or leave event not sent", "event", kind, "channel", d.Channel, "userId", d.UserID)
	}
}

// deliverJoinLeave hands a join or leave event to the channel's local
// subscribers, except the user it is about: a joining user does not hear
// of their own arrival.
func (h *Hub) deliverJoinLeave(ch string, msg *message.Message) {
	var d JoinLeaveData
	if err := json.Unmarshal(msg.Payload, &d); err != nil {
		h.log.Info("join or leave event dropped: unreadable", "channel", ch)
		return
	}
	sh := h.chanShard(ch)
	sh.mu.Lock()
	subs := make([]*Session, 0, len(sh.chans[ch]))
	for s := range sh.chans[ch] {
		subs = append(subs, s)
	}
	sh.mu.Unlock()
	for _, s := range subs {
		if s.userID != d.UserID {
			s.sendRawEvent(msg.Type, msg.Payload)
		}
	}
}

// joinLeaveTopic reports the channel of a join and leave topic.
func joinLeaveTopic(topic string) (string, bool) {
	return strings.CutPrefix(topic, topicJoinLeavePrefix)
}

// channelPresenceConns lists this node's connections on channels that
// record presence, for the store's refresh.
func (h *Hub) channelPresenceConns() []chanpresence.Conn {
	var out []chanpresence.Conn
	h.eachSession(func(s *Session) {
		for _, ch := range s.channelList() {
			if on, _ := h.cfg.Policy.PresenceFor(ch); on {
				out = append(out, chanpresence.Conn{Channel: ch, UserID: s.userID, ConnID: s.presenceID(), Info: s.Claims().Info})
			}
		}
	})
	return out
}

// PresenceQuery is the data of the presence and presence_stats events.
type PresenceQuery struct {
	Channel string `json:"channel"`
	After   string `json:"after,omitempty"`
	Limit   int    `json:"limit,omitempty"`
}

// parsePresenceQuery reads a presence query for a channel the session is
// on.
func (s *Session) parsePresenceQuery(f Frame) (PresenceQuery, *protocol.Error) {
	var q PresenceQuery
	if len(f.Data) == 0 || json.Unmarshal(f.Data, &q) != nil || q.Channel == "" {
		return q, protocol.Errorf(protocol.CodeInvalidData, `%s needs data {"channel": "<name>"}`, f.Event)
	}
	if q.Limit < 0 || q.Limit > MaxPresenceLimit {
		return q, protocol.Errorf(protocol.CodeInvalidData, "%s's limit must be from 1 to %d", f.Event, MaxPresenceLimit)
	}
	if !s.subscribedTo(q.Channel) {
		return q, protocol.Errorf(protocol.CodeChannelForbidden, "subscribe to channel %s to see who is there", q.Channel)
	}
	return q, nil
}

func presenceError(s *Session, ch string, err error) *protocol.Error {
	if errors.Is(err, ErrNoPresence) {
		return protocol.Errorf(protocol.CodePresenceDisabled, "channel %s records no presence: its namespace has none", ch)
	}
	s.hub.log.Error(err, "presence read failed", "channel", ch)
	return protocol.Errorf(protocol.CodeStoreUnavailable, "presence could not be read; retry")
}

func (s *Session) handlePresence(f Frame) (any, *protocol.Error) {
	q, perr := s.parsePresenceQuery(f)
	if perr != nil {
		return nil, perr
	}
	page, err := s.hub.ChannelPresence(s.hub.ctx, q.Channel, q.After, q.Limit)
	if err != nil {
		return nil, presenceError(s, q.Channel, err)
	}
	return page, nil
}

func (s *Session) handlePresenceStats(f Frame) (any, *protocol.Error) {
	q, perr := s.parsePresenceQuery(f)
	if perr != nil {
		return nil, perr
	}
	st, err := s.hub.ChannelPresenceStats(s.hub.ctx, q.Channel)
	if err != nil {
		return nil, presenceError(s, q.Channel, err)
	}
	return st, nil
}
