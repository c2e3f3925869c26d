package hub

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/recovery"
)

// Connection state recovery. A session with a RecoveryID keeps a record
// in Config.Recovery: its user, its channels and the last message written
// on each. When the client comes back within RecoveryWindow with that id
// and the id of the last message it read (Socket.IO's pid and offset), the
// new session takes the record over: the channels are subscribed again,
// the channel messages published in between are replayed from history,
// and queued messages the client had already read are skipped.

// aliveRecordTTL keeps the record of a live session. It is rewritten with
// RecoveryWindow when the session ends; the long TTL only matters when the
// node dies first and never rewrites it.
const aliveRecordTTL = 24 * time.Hour

// Recovery is what a session takes over from an earlier one (Meta.Recover).
type Recovery struct {
	// Offset is the id of the last message the client read; "" if none.
	Offset string
	// Record is the earlier session's record, as PlanRecovery took it.
	Record recovery.Record
}

// PlanRecovery takes the record of pid for userID and reports whether the
// client can recover without missing anything: every channel keeps
// history that still reaches back to what the client last read. A nil
// plan means there is nothing to recover: no record, another user's, or
// recovery is off. Once taken, a record cannot be taken again.
func (h *Hub) PlanRecovery(ctx context.Context, pid, userID, offset string) (plan *Recovery, complete bool) {
	if h.cfg.Recovery == nil || pid == "" {
		return nil, false
	}
	rec, ok, err := h.cfg.Recovery.Take(ctx, pid)
	if err != nil {
		h.log.Error(err, "recovery record unavailable", "userId", userID)
		return nil, false
	}
	if !ok || rec.UserID != userID {
		return nil, false
	}
	plan = &Recovery{Offset: offset, Record: rec}
	complete = true
	for ch := range rec.Channels {
		if _, ok := h.missedOn(ctx, ch, offset, rec); !ok {
			complete = false
		}
	}
	return plan, complete
}

// missedOn returns the messages ch published after the last one of ch
// the client read, by the earlier session's record. That is its offset
// when the offset is a message of ch; the last one written to ch when the
// offset is the last message written at all (the client read everything);
// else the last one the connection confirmed read, which may replay a few
// the client did read, but never skips one it did not. ok is false when
// history cannot tell.
func (h *Hub) missedOn(ctx context.Context, ch, offset string, rec recovery.Record) ([]*message.Message, bool) {
	_, ttl, ok := h.cfg.Policy.HistoryFor(ch)
	if !ok {
		return nil, false
	}
	read := rec.Read[ch]
	if offset != "" && offset == rec.Last {
		read = rec.Channels[ch]
	}
	for _, from := range []string{offset, read} {
		if from == "" {
			continue
		}
		missed, found, err := h.cfg.History.Since(ctx, ch, from, ttl)
		if err != nil {
			h.log.Error(err, "channel history unavailable", "channel", ch)
			return nil, false
		}
		if found {
			return missed, true
		}
	}
	return nil, false
}

// recoverChannels subscribes the session to the earlier session's
// channels, each with what it missed replayed ahead of live messages.
func (s *Session) recoverChannels(ctx context.Context, plan *Recovery) {
	chans := slices.Sorted(maps.Keys(plan.Record.Channels))
	subscribed := chans[:0]
	for _, ch := range chans {
		s.holdChannel(ch)
		if err := s.subscribe(ch); err != nil {
			// The rules may have changed since: the client learns it the
			// way it would on subscribe.
			s.replyError(Frame{}, err)
			s.releaseChannel(ch, nil)
			continue
		}
		subscribed = append(subscribed, ch)
	}
	syncCtx, cancel := context.WithTimeout(ctx, brokerSyncWait)
	defer cancel()
	if err := s.hub.cfg.Broker.Sync(syncCtx); err != nil {
		s.hub.log.Error(err, "broker subscription not confirmed", "userId", s.userID)
	}
	for _, ch := range subscribed {
		missed, _ := s.hub.missedOn(ctx, ch, plan.Offset, plan.Record)
		s.releaseChannel(ch, missed)
	}
}

// skipRead drops from a replayed queue the messages the client read before
// it dropped: everything up to its offset, which a dead connection had
// left unconfirmed.
func skipRead(msgs []*message.Message, offset string) []*message.Message {
	if offset == "" {
		return msgs
	}
	if i := slices.IndexFunc(msgs, func(m *message.Message) bool { return m.ID == offset }); i >= 0 {
		return msgs[i+1:]
	}
	return msgs
}

// saveRecovery writes the session's record with its current channels,
// while it lives, when the store outlives the node.
func (s *Session) saveRecovery(ctx context.Context) {
	if s.recoverable() && s.hub.cfg.RecoveryOutlivesNode {
		s.mu.Lock()
		chans := slices.Clone(s.channels)
		s.mu.Unlock()
		s.writeRecord(ctx, chans, aliveRecordTTL)
	}
}

// saveRecoveryOf writes the record of a session that has ended with chans,
// for the recovery window.
func (s *Session) saveRecoveryOf(chans []string) {
	if s.recoverable() {
		// Teardown outlives the hub's context, as in unregister.
		s.writeRecord(context.Background(), chans, s.hub.cfg.RecoveryWindow)
	}
}

func (s *Session) recoverable() bool { return s.hub.cfg.Recovery != nil && s.meta.RecoveryID != "" }

func (s *Session) writeRecord(ctx context.Context, chans []string, ttl time.Duration) {
	rec := recovery.Record{UserID: s.userID, Channels: make(map[string]string, len(chans))}
	s.mu.Lock()
	for _, ch := range chans {
		rec.Channels[ch] = ""
	}
	if st := s.sent; st != nil {
		rec.Last = st.last
		for _, ch := range chans {
			rec.Channels[ch] = st.written[ch]
			if id, ok := st.read[ch]; ok {
				if rec.Read == nil {
					rec.Read = make(map[string]string, len(chans))
				}
				rec.Read[ch] = id
			}
		}
	}
	s.mu.Unlock()
	if err := s.hub.cfg.Recovery.Save(ctx, s.meta.RecoveryID, rec, ttl); err != nil {
		s.hub.log.Error(err, "recovery record not saved", "userId", s.userID)
	}
}

// sentState is what a recoverable session remembers of what it sent, so
// that a client coming back is replayed what it did not read, and not
// what a dying connection was handed but never delivered. What the client
// read is known two ways: its offset (the last message it read, of any
// kind) and the connection's confirmations. See Hub.missedOn.
type sentState struct {
	written map[string]string // channel → last message handed to the connection
	read    map[string]string // channel → last message the connection confirmed read
	last    string            // the last message handed to the connection, of any kind
}

// noteSentLocked records a message handed to a recoverable session's
// connection. Nothing is kept before the first channel message: until
// then no channel has a position to recover from, and an idle session
// keeps no state for it.
func (s *Session) noteSentLocked(m *message.Message, toUser bool) {
	if s.meta.RecoveryID == "" {
		return
	}
	onChannel := !toUser && m.Channel != ""
	if s.sent == nil && !onChannel {
		return
	}
	st := s.sentLocked()
	st.last = m.ID
	if onChannel {
		if st.written == nil {
			st.written = make(map[string]string, 1)
		}
		st.written[m.Channel] = m.ID
	}
}

func (s *Session) sentLocked() *sentState {
	if s.sent == nil {
		s.sent = &sentState{}
	}
	return s.sent
}

// noteRead returns the OnWritten of a channel message sent to a
// recoverable session: it records the message as the last the client read
// on its channel. The connection runs it once the client is known to have
// read the message (a Socket.IO connection: once a pong came after it),
// in the order the messages were sent, and never for one that a dying
// connection left unread.
func (s *Session) noteRead(m *message.Message) func() {
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		st := s.sentLocked()
		if st.read == nil {
			st.read = make(map[string]string, 1)
		}
		st.read[m.Channel] = m.ID
	}
}
