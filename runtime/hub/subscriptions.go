package hub

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/protocol"
)

// maxChannelsPerRequest bounds one subscribe or unsubscribe frame.
const maxChannelsPerRequest = 100

// ChannelsRequest is the data of subscribe and unsubscribe.
type ChannelsRequest struct {
	Channels []string `json:"channels"`
	// Since maps a channel to the id of the last message the client saw
	// on it, to recover what it missed (subscribe only). An empty id asks
	// for everything the channel's history holds: a client that has read
	// nothing there since it first subscribed.
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
	ctx, cancel := context.WithTimeout(s.hub.ctx, brokerSyncWait)
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
	s.saveRecovery(ctx)
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
	ctx, cancel := context.WithTimeout(s.hub.ctx, brokerSyncWait)
	s.hub.fanoutBarrier(ctx, ch)
	cancel()
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
// whether the history still reached back that far. An empty lastID is a
// client that has read nothing on ch since it first subscribed: it gets
// all the history holds, complete unless the history is full.
func (s *Session) recoverChannel(ctx context.Context, ch, lastID string) bool {
	size, ttl, ok := s.hub.cfg.Policy.HistoryFor(ch)
	if !ok {
		s.releaseChannel(ch, nil)
		return false
	}
	var (
		missed    []*message.Message
		recovered bool
		err       error
	)
	if lastID == "" {
		missed, err = s.hub.cfg.History.Recent(ctx, ch, ttl)
		recovered = len(missed) < size
	} else {
		missed, recovered, err = s.hub.cfg.History.Since(ctx, ch, lastID, ttl)
	}
	if err != nil {
		s.hub.log.Error(err, "channel history unavailable", "channel", ch)
		recovered, missed = false, nil
	}
	s.releaseChannel(ch, missed)
	return recovered
}

func (s *Session) subscribe(ch string) *protocol.Error {
	if err := s.hub.cfg.Policy.Authorize(s.Claims(), ch); err != nil {
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
	s.hub.joinPresence(s, ch)
	return nil
}

func (s *Session) handleUnsubscribe(f Frame) (any, *protocol.Error) {
	req, perr := parseChannels(f)
	if perr != nil {
		return nil, perr
	}
	reply := ChannelsReply{Results: make([]ChannelResult, 0, len(req.Channels))}
	for _, ch := range req.Channels {
		s.unsubscribe(ch)
		reply.Results = append(reply.Results, ChannelResult{Channel: ch, OK: true})
	}
	s.saveRecovery(s.hub.ctx)
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
		_, _, history := h.cfg.Policy.HistoryFor(ch)
		sh.marks[ch] = channelMark{joined: time.Now(), history: history}
		h.cfg.Metrics.Channels.Inc()
		topics := []string{topicChannelPrefix + ch}
		if _, joinLeave := h.cfg.Policy.PresenceFor(ch); joinLeave {
			topics = append(topics, topicJoinLeavePrefix+ch)
		}
		if err := h.cfg.Broker.Subscribe(h.ctx, topics...); err != nil {
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
		delete(sh.marks, ch)
		h.cfg.Metrics.Channels.Dec()
		topics := []string{topicChannelPrefix + ch}
		if _, joinLeave := h.cfg.Policy.PresenceFor(ch); joinLeave {
			topics = append(topics, topicJoinLeavePrefix+ch)
		}
		if err := h.cfg.Broker.Unsubscribe(context.Background(), topics...); err != nil {
			h.log.Error(err, "broker unsubscribe failed", "channel", ch)
		}
	}
}
