package hub

import (
	"time"

	"github.com/fleetwire/fleetwire/runtime/protocol"
	"github.com/fleetwire/fleetwire/runtime/ratelimit"
)

// checkRate applies the per-user message rule, then the rule for this
// event name if there is one, both chosen by the token's tier.
func (s *Session) checkRate(event string) *protocol.Error {
	rates := s.hub.cfg.Rates
	tier := s.Claims().Tier
	if perr := s.allow(ratelimit.RuleMessages, "msg:"+s.userID, rates.MessagesFor(tier), "events"); perr != nil {
		return perr
	}
	if rule, ok := rates.EventFor(tier, event); ok {
		return s.allow(ratelimit.RuleEvent, "evt:"+event+":"+s.userID, rule, event+" events")
	}
	return nil
}

func (s *Session) allow(ruleName, key string, rule ratelimit.Rule, what string) *protocol.Error {
	if rule.Disabled() {
		return nil
	}
	d, err := s.hub.cfg.Limiter.Allow(s.hub.ctx, key, rule)
	if err != nil {
		// Failing open keeps clients working when the limiter's store is
		// down; the error is logged for operators.
		s.hub.log.Error(err, "rate limiter unavailable", "userId", s.userID)
		return nil
	}
	if d.Allowed {
		s.hub.cfg.Metrics.RateLimitDecisions.WithLabelValues(ruleName, "allowed").Inc()
		return nil
	}
	s.hub.cfg.Metrics.RateLimitDecisions.WithLabelValues(ruleName, "blocked").Inc()
	e := protocol.Errorf(protocol.CodeRateLimited, "too many %s: the limit is %d per %s", what, rule.Limit, rule.Window)
	e.RetryAfterMs = max(d.RetryAfter.Milliseconds(), 1)
	return e
}

// noteBlocked counts a blocked event and closes the connection with 1008
// once the client keeps going past the abuse threshold. Only the reader
// goroutine touches the counters.
func (s *Session) noteBlocked() {
	rates := s.hub.cfg.Rates
	if rates.AbuseBlocked <= 0 {
		return
	}
	now := time.Now()
	if now.Sub(s.abuseSince) > rates.AbuseWindow {
		s.abuseSince, s.abuseCount = now, 0
	}
	s.abuseCount++
	if s.abuseCount == rates.AbuseBlocked {
		s.hub.log.Info("closing an abusive connection", "userId", s.userID, "socketId", s.meta.ConnID,
			"blocked", s.abuseCount, "window", rates.AbuseWindow.String())
		// A flood does not stop at the close frame: what is still on its
		// way until the close grace ends would cost as much as the flood.
		s.cutOff = true
		// The address is banned before the close goes out, so that a
		// client redialling as soon as it reads the close finds it so.
		if f := s.hub.cfg.OnAbuse; f != nil {
			f(s.meta.IP)
		}
		s.close(closePolicyViolation)
	}
}
