package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/auth"
)

// requestToken reads the caller's token from the Authorization: Bearer
// header or, where inQuery allows it (the WebSocket and Socket.IO
// upgrades, which browsers cannot give headers), from ?token=. The HTTP
// API refuses ?token=: a token in a URL ends up in access logs. An empty
// token with no error is left to the verifier to refuse.
func requestToken(r *http.Request, inQuery bool) (string, *apiError) {
	h := r.Header.Get("Authorization")
	if h == "" && inQuery {
		if tok := subprotocolToken(r); tok != "" {
			return tok, nil
		}
	}
	if h == "" {
		if !inQuery && r.URL.Query().Has("token") {
			return "", newError(http.StatusUnauthorized, string(auth.ReasonMissing),
				"the HTTP API takes its token only in an Authorization: Bearer header; ?token= is for the WebSocket upgrade at /ws, because URLs end up in access logs")
		}
		return auth.TokenFromRequest(r), nil
	}
	scheme, _, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "bearer") {
		return "", newError(http.StatusUnauthorized, string(auth.ReasonMissing),
			fmt.Sprintf("the Authorization header uses the %q scheme; send Authorization: Bearer <jwt>", scheme))
	}
	return auth.TokenFromRequest(r), nil
}

// Browsers cannot set headers on a WebSocket upgrade. Besides ?token=,
// they can send the token as a subprotocol, which keeps it out of URLs:
// new WebSocket(url, [SubprotocolName, SubprotocolTokenPrefix + token]).
// The answer selects SubprotocolName, never the token.
const (
	SubprotocolName        = "fleetwire"
	SubprotocolTokenPrefix = "fleetwire.bearer."
)

func subprotocolToken(r *http.Request) string {
	for _, p := range websocket.Subprotocols(r) {
		if tok, ok := strings.CutPrefix(p, SubprotocolTokenPrefix); ok {
			return tok
		}
	}
	return ""
}

func authError(err error) *apiError {
	var ve *auth.VerifyError
	if errors.As(err, &ve) {
		if ve.Reason == auth.ReasonUnavailable {
			return newError(http.StatusServiceUnavailable, string(ve.Reason), ve.Detail)
		}
		return newError(http.StatusUnauthorized, string(ve.Reason), ve.Detail)
	}
	return newError(http.StatusUnauthorized, string(auth.ReasonMalformed), "token could not be verified")
}
