package protocol

import "fmt"

// Code is a stable, machine-readable error code sent to clients. Codes are
// part of the public protocol: never rename one, only add new ones.
type Code string

// Error codes carried in "error" events and HTTP error bodies.
const (
	CodeBadFrame         Code = "bad_frame"         // the frame is not valid JSON or lacks "event"
	CodeUnknownEvent     Code = "unknown_event"     // no handler for the event name
	CodeInvalidData      Code = "invalid_data"      // the event's data has the wrong shape
	CodeInvalidChannel   Code = "invalid_channel"   // the channel name does not match the pattern
	CodeChannelForbidden Code = "channel_forbidden" // the channel rules refuse this user
	CodeTooManyChannels  Code = "too_many_channels" // the per-connection channel cap is reached
	CodeRateLimited      Code = "rate_limited"      // the user's event rate is over the limit
	CodeForbidden        Code = "forbidden"         // the event needs a role the token lacks
	CodeInternal         Code = "internal"          // a server-side failure; details are only logged
	CodeHistoryDisabled  Code = "history_disabled"  // the channel's namespace keeps no history
	CodeStoreUnavailable Code = "store_unavailable" // a store (Redis) did not answer; retry
	CodeTokenRefused     Code = "token_refused"     // a refresh's token names another user, or could not be read
	CodePresenceDisabled Code = "presence_disabled" // the channel's namespace records no presence
)

// Error is a typed error that may be shown to a client. Its Message is
// written for people and never carries internal error text.
type Error struct {
	Code         Code   `json:"code"`
	Message      string `json:"message"`
	RetryAfterMs int64  `json:"retryAfterMs,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WebSocket close codes the runtime sends. 1000-2999 are defined by RFC
// 6455 and the IANA registry; 4000-4999 are private to this protocol.
const (
	ClosePolicyViolation  = 1008 // events kept coming past the rate limit (rateLimit.abuse)
	CloseMessageTooBig    = 1009 // a frame exceeded limits.maxMessageBytes
	CloseServiceRestart   = 1012 // the server is restarting: reconnect after a short delay
	CloseTokenExpired     = 4001 // the token's exp passed: get a new token, then reconnect
	CloseTokenRevoked     = 4003 // the token's jti was revoked: do not reconnect with it
	CloseAdminDisconnect  = 4004 // an administrator disconnected the user
	CloseSlowConsumer     = 4008 // the client read too slowly and its outbound queue overflowed
	CloseHeartbeatTimeout = 4009 // no frame or pong arrived within the heartbeat timeout
)
