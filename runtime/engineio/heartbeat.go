package engineio

import "time"

// The heartbeat is one scheduler entry per session, moved from phase to
// phase: wait PingInterval, then queue a ping; wait PingTimeout for the
// pong, else close with "ping timeout". A graceful close may use it once
// more, for its final ping (see finalPingLocked).

type heartbeatPhase uint8

const (
	hbOff      heartbeatPhase = iota
	hbInterval                // waiting to send the next ping
	hbPong                    // a ping is out; its pong is due
	hbFinal                   // the final ping of a graceful close is out
)

// armLocked enters phase, which ends after d.
func (s *Socket) armLocked(phase heartbeatPhase, d time.Duration) {
	due := time.Now().Add(d)
	s.hbPhase, s.hbDue = phase, due.UnixNano()
	if s.hb == nil {
		s.hb = s.srv.sched.At(due, s.onHeartbeat)
		return
	}
	s.srv.sched.Reset(s.hb, due)
}

func (s *Socket) schedulePingLocked() { s.armLocked(hbInterval, s.srv.cfg.PingInterval) }

func (s *Socket) stopHeartbeatLocked() {
	s.hbPhase = hbOff
	s.srv.sched.Cancel(s.hb)
}

// onHeartbeat runs on the scheduler's goroutine when a phase ends. The
// scheduler may run an entry that was moved while it was being taken as
// due; hbDue, still in the future then, tells that run to do nothing.
func (s *Socket) onHeartbeat() {
	s.mu.Lock()
	if s.hbPhase == hbOff || time.Now().UnixNano() < s.hbDue {
		s.mu.Unlock()
		return
	}
	switch s.hbPhase {
	case hbInterval:
		if s.state == stateOpen {
			s.enqueueLocked(outPacket{typ: packetPing})
			s.armLocked(hbPong, s.srv.cfg.PingTimeout)
		}
	case hbPong:
		s.hbPhase = hbOff
		s.mu.Unlock()
		s.finalize(ReasonPingTimeout)
		return
	case hbFinal:
		// No pong to the final ping: close anyway.
		s.hbPhase = hbOff
		if s.state == stateClosing {
			s.enqueueLocked(outPacket{typ: packetClose})
		}
	}
	s.mu.Unlock()
}

func (s *Socket) onPong() {
	s.mu.Lock()
	var done []pending
	switch {
	case s.state == stateOpen && s.hbPhase == hbPong:
		done = s.confirmLocked()
		s.schedulePingLocked()
	case s.state == stateClosing && s.hbPhase == hbFinal:
		done = s.confirmLocked()
		s.stopHeartbeatLocked()
		s.enqueueLocked(outPacket{typ: packetClose})
	}
	s.mu.Unlock()
	runDelivered(done)
}
