package hub

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/protocol"
)

// Token refresh without reconnecting. A connection's token expires; a
// client that has a fresh one sends it in a refresh event, and the
// connection carries on under the new claims. The client is warned with
// a token_expiring event ExpiryWarning before exp, and a connection whose
// token expires is closed with 4001, as before.

// TokenVerifier checks a token the way the upgrade does: signature and
// algorithm, claims, and the revocation list.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*auth.Claims, error)
}

// Claims returns the connection's current claims.
func (s *Session) Claims() *auth.Claims { return s.claims.Load() }

// RefreshRequest is the data of refresh.
type RefreshRequest struct {
	Token string `json:"token"`
}

// RefreshReply answers refresh; ExpiresAt is empty for a token without
// exp.
type RefreshReply struct {
	UserID    string `json:"userId"`
	ExpiresAt string `json:"expiresAt,omitempty"`
}

// TokenExpiringData is the data of the token_expiring event.
type TokenExpiringData struct {
	ExpiresAt   string `json:"expiresAt"`
	ExpiresInMs int64  `json:"expiresInMs"`
}

// handleRefresh replaces the connection's claims with a new token's: one
// that verifies, is not revoked, names the same user, and is signed with
// the same key as the connection's first token. Anything else
// is refused, and the connection keeps its claims and its expiry.
// Channels the new claims no longer allow are unsubscribed, and the
// client is told with an unsubscribed event.
func (s *Session) handleRefresh(f Frame) (any, *protocol.Error) {
	var req RefreshRequest
	if len(f.Data) == 0 || json.Unmarshal(f.Data, &req) != nil || req.Token == "" {
		return nil, protocol.Errorf(protocol.CodeInvalidData, `refresh needs data {"token": "<JWT>"}`)
	}
	if s.hub.cfg.Tokens == nil {
		return nil, protocol.Errorf(protocol.CodeInternal, "token refresh is not available on this node")
	}
	ctx, cancel := context.WithTimeout(s.hub.ctx, refreshVerifyWait)
	defer cancel()
	claims, err := s.hub.cfg.Tokens.Verify(ctx, req.Token)
	if err != nil {
		var ve *auth.VerifyError
		if errors.As(err, &ve) {
			if ve.Reason == auth.ReasonUnavailable {
				return nil, protocol.Errorf(protocol.CodeStoreUnavailable, "the token could not be checked now; retry")
			}
			return nil, &protocol.Error{Code: protocol.Code(ve.Reason), Message: "the new token was refused: " + ve.Detail}
		}
		return nil, protocol.Errorf(protocol.CodeTokenRefused, "the new token was refused")
	}
	if claims.UserID() != s.userID {
		return nil, protocol.Errorf(protocol.CodeTokenRefused, "the new token is for another user; a connection keeps its user")
	}
	if was := s.Claims().Algorithm; was != "" && claims.Algorithm != was {
		return nil, protocol.Errorf(protocol.CodeTokenRefused, "the new token is signed with another key (%s, not %s); a connection keeps its key", claims.Algorithm, was)
	}
	s.claims.Store(claims)
	exp := claims.Expiry()
	s.rescheduleExpiry(exp)
	s.hub.log.Info("token refreshed", "userId", s.userID, "socketId", s.meta.ConnID, "expiresAt", exp)
	// The new claims may allow fewer channels (fewer roles or teams).
	var gone []string
	for _, ch := range s.channelList() {
		if s.hub.cfg.Policy.Authorize(claims, ch) != nil && s.unsubscribe(ch) {
			gone = append(gone, ch)
		}
	}
	if len(gone) > 0 {
		s.saveRecovery(s.hub.ctx)
		s.sendEvent("unsubscribed", UnsubscribedData{Channels: gone})
	}
	reply := RefreshReply{UserID: s.userID}
	if !exp.IsZero() {
		reply.ExpiresAt = exp.UTC().Format(message.TimestampFormat)
	}
	return reply, nil
}

// refreshVerifyWait bounds a refresh's revocation check.
const refreshVerifyWait = 5 * time.Second

// scheduleExpiry schedules the close at exp (plus the grace) and the
// warning before it; a zero exp schedules neither.
func (s *Session) scheduleExpiry(exp time.Time) {
	if exp.IsZero() {
		return
	}
	sched := s.hub.cfg.Scheduler
	s.expiry = sched.At(exp.Add(s.hub.cfg.ExpiryGrace), func() { s.close(closeTokenExpired) })
	if w := s.hub.cfg.ExpiryWarning; w > 0 {
		s.expiring = sched.At(exp.Add(-w), func() { s.warnExpiring(exp) })
	}
}

// rescheduleExpiry replaces the timers of the old token with the new
// one's, under s.mu, as remove cancels them; a closed session gets none.
func (s *Session) rescheduleExpiry(exp time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sched := s.hub.cfg.Scheduler
	sched.Cancel(s.expiry)
	sched.Cancel(s.expiring)
	s.expiry, s.expiring = nil, nil
	if !s.closed {
		s.scheduleExpiry(exp)
	}
}

func (s *Session) warnExpiring(exp time.Time) {
	s.sendEvent("token_expiring", TokenExpiringData{
		ExpiresAt:   exp.UTC().Format(message.TimestampFormat),
		ExpiresInMs: max(time.Until(exp).Milliseconds(), 0),
	})
}
