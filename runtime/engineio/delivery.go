package engineio

import "slices"

// Delivery confirmation. A client answers a ping only after it has read
// everything the server wrote before it, so a pong confirms every message
// taken for writing before that ping was queued. Messages that carry a Tag
// or an OnDelivered wait for that confirmation here; until it comes,
// DropPending hands their tags back, so a message written to a connection
// that turned out to be dead is not lost.
//
// unconfirmed holds, in the order taken, what writers took and no pong has
// confirmed; its first pinged entries are what the outstanding ping will
// confirm. One slice rather than two keeps the session small.

type pending struct {
	tag         any
	onDelivered func()
}

func awaitsConfirmation(p outPacket) bool { return p.tag != nil || p.onDelivered != nil }

// trackLocked records the batch a writer has just taken, in queue order:
// a ping covers every message taken before it.
func (s *Socket) trackLocked(batch []outPacket) {
	for _, p := range batch {
		switch {
		case p.typ == packetPing:
			s.pinged = int32(len(s.unconfirmed))
		case awaitsConfirmation(p):
			s.unconfirmed = append(s.unconfirmed, pending{tag: p.tag, onDelivered: p.onDelivered})
		}
	}
}

// confirmLocked takes what the pong confirms; the caller runs the
// callbacks once it has released the lock.
func (s *Socket) confirmLocked() []pending {
	n := int(s.pinged)
	done := s.unconfirmed[:n:n]
	if rest := s.unconfirmed[n:]; len(rest) > 0 {
		s.unconfirmed = slices.Clone(rest)
	} else {
		s.unconfirmed = nil
	}
	s.pinged = 0
	return done
}

func runDelivered(done []pending) {
	for _, p := range done {
		if p.onDelivered != nil {
			p.onDelivered()
		}
	}
}

// unconfirmedTagsLocked returns, oldest first, the tags of messages taken
// for writing but not confirmed, and forgets them.
func (s *Socket) unconfirmedTagsLocked() []any {
	var tags []any
	for _, p := range s.unconfirmed {
		if p.tag != nil {
			tags = append(tags, p.tag)
		}
	}
	s.unconfirmed, s.pinged = nil, 0
	return tags
}

// Confirm treats the message sent with tag as delivered before any pong
// does: the client acknowledged it itself (a Socket.IO ack). Its
// OnDelivered runs, and DropPending no longer hands its tag back. A tag
// not awaiting confirmation is ignored. Tags are compared with ==.
func (s *Socket) Confirm(tag any) {
	if tag == nil {
		return
	}
	s.mu.Lock()
	i := slices.IndexFunc(s.unconfirmed, func(p pending) bool { return p.tag == tag })
	if i < 0 {
		s.mu.Unlock()
		return
	}
	done := s.unconfirmed[i]
	s.unconfirmed = slices.Delete(slices.Clone(s.unconfirmed), i, i+1)
	if int32(i) < s.pinged {
		s.pinged--
	}
	s.mu.Unlock()
	runDelivered([]pending{done})
}

// finalPingLocked starts a graceful close that first asks for a pong, when
// messages wait for confirmation: the pong confirms them, and only then is
// the close packet queued. Without it, a message the client did read would
// be handed back by DropPending and delivered twice. It reports whether it
// queued the ping; if the pong does not come within PingTimeout, the close
// packet is queued anyway.
func (s *Socket) finalPingLocked() bool {
	if len(s.unconfirmed) == 0 && !slices.ContainsFunc(s.queue, awaitsConfirmation) {
		return false
	}
	s.enqueueLocked(outPacket{typ: packetPing})
	s.armLocked(hbFinal, s.srv.cfg.PingTimeout)
	return true
}

// confirmOnClientClose treats what was taken for writing as delivered when
// the client closes the session itself: it chose to leave, and what was in
// flight when it did is its own to have read or not. Only a session that
// ends without the client's word (a dead connection, a ping timeout, an
// abort) keeps its unconfirmed messages for DropPending.
func (s *Socket) confirmOnClientClose() {
	s.mu.Lock()
	done := s.unconfirmed
	s.unconfirmed, s.pinged = nil, 0
	s.mu.Unlock()
	runDelivered(done)
}
