package httpapi

import (
	"encoding/json"
	"net/http"
)

// Error codes in HTTP error bodies. They are stable; docs/protocol.md lists
// them with their status codes.
const (
	CodeInvalidJSON      = "invalid_json"
	CodeValidation       = "validation_failed"
	CodeBodyTooLarge     = "body_too_large"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeForbidden        = "forbidden"
	CodeOriginNotAllowed = "origin_not_allowed"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeTooManyConns     = "too_many_connections"
	CodeTooManyUserConns = "too_many_user_connections"
	CodeUpgradeRequired  = "websocket_upgrade_required"
	CodeShuttingDown     = "shutting_down"
	CodeStoreUnavailable = "store_unavailable"
	CodeInternal         = "internal"
	CodeHistoryDisabled  = "history_disabled"
	CodeNotAttempted     = "not_attempted"
	CodePresenceDisabled = "presence_disabled"
)

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Error     ErrorDetail `json:"error"`
	RequestID string      `json:"requestId,omitempty"`
}

// ErrorDetail describes one error. Field names the offending request field
// for validation errors.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// apiError is an error a handler returns to be written as JSON.
type apiError struct {
	status int
	detail ErrorDetail
}

func (e *apiError) Error() string { return e.detail.Code + ": " + e.detail.Message }

func newError(status int, code, msg string) *apiError {
	return &apiError{status: status, detail: ErrorDetail{Code: code, Message: msg}}
}

func fieldError(field, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, detail: ErrorDetail{Code: CodeValidation, Message: msg, Field: field}}
}

// unavailableRetryAfter is the Retry-After, in seconds, of a 503 that did
// not set its own: a store this node needs is unreachable, and a retry
// soon may find it back.
const unavailableRetryAfter = "1"

func writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	if e.status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", unavailableRetryAfter)
	}
	writeJSON(w, e.status, ErrorBody{Error: e.detail, RequestID: requestID(r.Context())})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
