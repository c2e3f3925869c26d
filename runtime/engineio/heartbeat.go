package engineio

import "time"

// The heartbeat is one timer per session that alternates between two
// phases: wait PingInterval then queue a ping; wait PingTimeout for the
// pong, else close with "ping timeout".

func (s *Socket) schedulePingLocked() {
	s.stopHeartbeatLocked()
	gen := s.hbGen
	s.hbTimer = time.AfterFunc(s.srv.cfg.PingInterval, func() { s.sendPing(gen) })
}

func (s *Socket) stopHeartbeatLocked() {
	s.hbGen++
	s.awaitingPong = false
	if s.hbTimer != nil {
		s.hbTimer.Stop()
		s.hbTimer = nil
	}
}

func (s *Socket) sendPing(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.hbGen || s.state != stateOpen {
		return
	}
	s.enqueueLocked(outPacket{typ: packetPing})
	s.hbGen++
	s.awaitingPong = true
	gen = s.hbGen
	s.hbTimer = time.AfterFunc(s.srv.cfg.PingTimeout, func() { s.pongMissed(gen) })
}

func (s *Socket) pongMissed(gen uint64) {
	s.mu.Lock()
	stale := gen != s.hbGen
	s.mu.Unlock()
	if !stale {
		s.finalize(ReasonPingTimeout)
	}
}

func (s *Socket) onPong() {
	s.mu.Lock()
	var done []pending
	switch {
	case s.state == stateOpen && s.awaitingPong:
		done = s.confirmLocked()
		s.schedulePingLocked()
	case s.state == stateClosing && s.finalPing:
		done = s.confirmLocked()
		s.finalPing = false
		s.stopHeartbeatLocked()
		s.enqueueLocked(outPacket{typ: packetClose})
	}
	s.mu.Unlock()
	runDelivered(done)
}
