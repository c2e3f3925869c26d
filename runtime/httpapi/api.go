package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/go-logr/logr"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/fleet"
	"github.com/fleetwire/fleetwire/runtime/health"
	"github.com/fleetwire/fleetwire/runtime/hub"
	"github.com/fleetwire/fleetwire/runtime/metrics"
	"github.com/fleetwire/fleetwire/runtime/protocol"
	"github.com/fleetwire/fleetwire/runtime/queue"
	"github.com/fleetwire/fleetwire/runtime/ratelimit"
	"github.com/fleetwire/fleetwire/runtime/socketio"
	"github.com/fleetwire/fleetwire/runtime/transport"
)

// Config wires the API to the node. Zero values of the limits mean the
// documented defaults.
type Config struct {
	Hub *hub.Hub
	// Queue is the offline queues the hub uses: the admin API clears
	// them, GET /ws/queue reads them. Required.
	Queue queue.Queue
	// Limiter applies the HTTP rules of Rates. Required.
	Limiter  ratelimit.Limiter
	Verifier *auth.Verifier
	Denylist auth.Denylist
	Upgrader *transport.Upgrader
	Origins  *OriginPolicy
	Logger   logr.Logger
	// Codec is the WebSocket wire protocol at /ws. Default protocol.JSON.
	Codec protocol.Codec
	// MaxBodyBytes bounds request bodies. Default 1 MiB.
	MaxBodyBytes int64
	// MaxConnections refuses upgrades beyond this many sessions. Default 10000.
	MaxConnections int
	// MaxBulkUsers bounds POST /ws/send/bulk. Default 1000.
	MaxBulkUsers int
	// AllowedTypes, when non-empty, restricts message types.
	AllowedTypes map[string]bool
	// Version is reported by /health.
	Version string
	// Metrics is the node's registry and collectors. Required.
	Metrics *metrics.Metrics
	// Health answers the health endpoints and says whether the node is
	// draining. Required.
	Health *health.Checker
	// Rates holds the per-IP, per-user connection and HTTP rules. Nil means
	// none.
	Rates *ratelimit.Policy
	// HSTSMaxAge is sent as Strict-Transport-Security on requests that
	// came over TLS. Zero sends none.
	HSTSMaxAge time.Duration
	// SocketIO, when set, serves Socket.IO v4 clients at its Path.
	SocketIO *SocketIOConfig
	// Fleet, when set, serves the fleet overview and the user pages the
	// console reads (console.go).
	Fleet *fleet.Fleet
	// Console, when set, serves the web console's files at /console/.
	Console http.Handler
}

// API serves the runtime's HTTP endpoints.
type API struct {
	cfg Config
	mux *http.ServeMux
	// patterns are the routes registered, for the hints of handleNoRoute.
	patterns []string
	sio      *socketIO // nil when Socket.IO is off
	// peers asks the other nodes for their part of a console answer.
	peers *http.Client
}

// New returns the API with every route registered.
func New(cfg Config) (*API, error) {
	if cfg.Hub == nil || cfg.Queue == nil || cfg.Limiter == nil || cfg.Verifier == nil || cfg.Upgrader == nil || cfg.Metrics == nil || cfg.Health == nil {
		return nil, errors.New("httpapi: Hub, Queue, Limiter, Verifier, Upgrader, Metrics and Health are required")
	}
	if cfg.Codec == nil {
		cfg.Codec = protocol.JSON{}
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 10000
	}
	if cfg.MaxBulkUsers <= 0 {
		cfg.MaxBulkUsers = 1000
	}
	if cfg.Rates == nil {
		cfg.Rates = &ratelimit.Policy{}
	}
	if cfg.Origins == nil {
		cfg.Origins = NewOriginPolicy(nil, false)
	}
	a := &API{cfg: cfg, mux: http.NewServeMux(), peers: &http.Client{Timeout: fanoutTimeout}}
	if cfg.SocketIO != nil {
		sio, err := a.newSocketIO(*cfg.SocketIO)
		if err != nil {
			return nil, fmt.Errorf("socketIO: %w", err)
		}
		a.sio = sio
	}
	a.routes()
	return a, nil
}

// Shutdown ends what the API serves beyond single requests: the Engine.IO
// sessions left after the hub drained, whose pending long-polls would
// otherwise hold the HTTP server's shutdown until its deadline.
func (a *API) Shutdown(ctx context.Context) error {
	if a.sio == nil {
		return nil
	}
	return a.sio.shutdown(ctx)
}

func (a *API) routes() {
	a.handle("GET /ws", http.HandlerFunc(a.handleWebSocket))
	if a.sio != nil {
		a.handle(a.sio.path(), a.sio.server)
	}
	a.handle("POST /ws/send/bulk", a.service(a.handleSendBulk))
	a.handle("POST /ws/send/{userId}", a.service(a.handleSend))
	a.handle("POST /ws/broadcast", a.service(a.handleBroadcast))
	a.handle("POST /ws/publish", a.service(a.handlePublish))
	a.handle("GET /ws/status/{userId}", a.service(a.handleStatus))
	a.handle("GET /ws/queue/{userId}", a.service(a.handleQueue))
	a.handle("GET /ws/channels/{channel}/history", a.service(a.handleHistory))
	a.handle("GET /ws/channels/{channel}/presence", a.service(a.handlePresence))
	a.handle("GET /ws/channels/{channel}/presence-stats", a.service(a.handlePresenceStats))
	a.handle("POST /ws/subscribe/{userId}", a.service(a.handleSubscribeUser))
	a.handle("POST /ws/unsubscribe/{userId}", a.service(a.handleUnsubscribeUser))
	a.handle("POST /ws/test", a.service(a.handleTest))
	a.adminRoutes()
	a.consoleRoutes()
	a.healthRoutes()
	a.metricsRoutes()
	a.handle("/", http.HandlerFunc(a.handleNoRoute))
}

// handle registers one route and remembers its pattern.
func (a *API) handle(pattern string, h http.Handler) {
	a.mux.Handle(pattern, h)
	a.patterns = append(a.patterns, pattern)
}

// handleNoRoute answers requests no route took: 405 with Allow when the
// path exists for other methods, else 404. Both get the JSON error body,
// which the mux's own plain-text answers would not have.
func (a *API) handleNoRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, r, newError(http.StatusMethodNotAllowed, CodeMethodNotAllowed,
			fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, " or "))))
		return
	}
	writeError(w, r, newError(http.StatusNotFound, CodeNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path+a.pathHint(r.URL.Path)))
}

// pathHint tells a caller who missed a route what is there: the routes
// under the same first path segment, or where Socket.IO is.
func (a *API) pathHint(path string) string {
	if strings.HasPrefix(path, socketio.DefaultPath) && a.sio == nil {
		return "; Socket.IO is off on this node (socketIO.enabled, SOCKETIO_ENABLED)"
	}
	if a.sio != nil && a.sio.path() != socketio.DefaultPath && strings.HasPrefix(path, socketio.DefaultPath) {
		return "; Socket.IO is served at " + a.sio.path() + ", the client's path option"
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if first == "" {
		return "; see docs/protocol.md for the endpoints"
	}
	var near []string
	for _, p := range a.patterns {
		_, route, _ := strings.Cut(p, " ")
		if route == "" {
			route = p
		}
		if route == "/"+first || strings.HasPrefix(route, "/"+first+"/") {
			near = append(near, p)
		}
	}
	if len(near) == 0 {
		return "; see docs/protocol.md for the endpoints"
	}
	return "; under /" + first + " there are: " + strings.Join(near, ", ")
}

// Handler returns the API with request ids, request logging and HTTP
// metrics.
func (a *API) Handler() http.Handler {
	credentialsPath := ""
	if a.sio != nil {
		credentialsPath = a.sio.path()
	}
	return withRequestID(withLogging(a.cfg.Logger, a.cfg.Metrics, withSecurity(a.cfg.Origins, a.cfg.HSTSMaxAge, credentialsPath, a.mux)))
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, c *auth.Claims) (any, error)

// service requires a token with the service or admin role.
func (a *API) service(h handlerFunc) http.Handler {
	return a.authorized(h, auth.RoleService, auth.RoleAdmin)
}

// admin requires a token with the admin role.
func (a *API) admin(h handlerFunc) http.Handler { return a.authorized(h, auth.RoleAdmin) }

func (a *API) authorized(h handlerFunc, roles ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, aerr := requestToken(r, false)
		if aerr != nil {
			a.cfg.Metrics.AuthFailures.WithLabelValues(string(auth.ReasonMissing)).Inc()
			writeError(w, r, aerr)
			return
		}
		claims, err := a.cfg.Verifier.Verify(r.Context(), token)
		if err != nil {
			a.cfg.Metrics.AuthFailures.WithLabelValues(reasonOf(err)).Inc()
			writeError(w, r, authError(err))
			return
		}
		if !claims.HasAnyRole(roles...) {
			writeError(w, r, newError(http.StatusForbidden, CodeForbidden, fmt.Sprintf("this endpoint needs one of the roles %v", roles)))
			return
		}
		if aerr := a.limit(w, r, ratelimit.RuleHTTPPerCaller, "http:"+claims.UserID(), a.cfg.Rates.HTTPFor(claims.Tier), "API calls"); aerr != nil {
			writeError(w, r, aerr)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
		out, err := h(w, r, claims)
		if err != nil {
			var ae *apiError
			switch {
			case errors.As(err, &ae):
			case errors.Is(err, hub.ErrUnavailable):
				a.cfg.Logger.Error(err, "request refused", "path", r.URL.Path, "requestId", requestID(r.Context()))
				ae = newError(http.StatusServiceUnavailable, CodeStoreUnavailable, "a store this node needs (Redis) did not take the request; retry")
			default:
				a.cfg.Logger.Error(err, "request failed", "path", r.URL.Path, "requestId", requestID(r.Context()))
				ae = newError(http.StatusInternalServerError, CodeInternal, "internal error; see the server log for request "+requestID(r.Context()))
			}
			writeError(w, r, ae)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// limit applies one rule. Over the limit, it sets Retry-After and returns
// a 429 error; a limiter failure lets the request through and is logged.
func (a *API) limit(w http.ResponseWriter, r *http.Request, ruleName, key string, rule ratelimit.Rule, what string) *apiError {
	if rule.Disabled() {
		return nil
	}
	d, err := a.cfg.Limiter.Allow(r.Context(), key, rule)
	if err != nil {
		a.cfg.Logger.Error(err, "rate limiter unavailable", "rule", ruleName)
		return nil
	}
	if d.Allowed {
		a.cfg.Metrics.RateLimitDecisions.WithLabelValues(ruleName, "allowed").Inc()
		return nil
	}
	a.cfg.Metrics.RateLimitDecisions.WithLabelValues(ruleName, "blocked").Inc()
	secs := int64(math.Ceil(d.RetryAfter.Seconds()))
	w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	return newError(http.StatusTooManyRequests, string(protocol.CodeRateLimited),
		fmt.Sprintf("too many %s: the limit is %d per %s; retry after %s", what, rule.Limit, rule.Window, d.RetryAfter.Round(time.Millisecond)))
}

// decodeJSON reads a JSON object body into v with errors a caller can act on.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return newError(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type must be application/json")
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &tooLarge):
			return newError(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("request body exceeds %d bytes", tooLarge.Limit))
		case errors.As(err, &typeErr) && typeErr.Field == "":
			return newError(http.StatusBadRequest, CodeInvalidJSON, "body must be a JSON object")
		case errors.As(err, &typeErr):
			return fieldError(typeErr.Field, fmt.Sprintf("field %q must be %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String())))
		case errors.As(err, &syntaxErr):
			return newError(http.StatusBadRequest, CodeInvalidJSON, fmt.Sprintf("body is not valid JSON (syntax error at byte %d)", syntaxErr.Offset))
		case errors.Is(err, context.Canceled):
			return err
		}
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			name, _ = strconv.Unquote(name)
			return fieldError(name, fmt.Sprintf("unknown field %q; this endpoint takes %s", name, fieldList(v)))
		}
		var fe *fieldParseError
		if errors.As(err, &fe) {
			return fieldError(fe.field, fe.msg)
		}
		return newError(http.StatusBadRequest, CodeInvalidJSON, "body must be a JSON object")
	}
	if dec.More() {
		return newError(http.StatusBadRequest, CodeInvalidJSON, "body has data after the JSON object")
	}
	return nil
}

// fieldList names the JSON fields of the struct v points to, embedded
// structs included, for the error that refuses an unknown field.
func fieldList(v any) string {
	var names []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for f := range t.Fields() {
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
				names = append(names, strconv.Quote(name))
			}
		}
	}
	if t := reflect.TypeOf(v); t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct {
		walk(t.Elem())
	}
	if len(names) == 0 {
		return "no fields"
	}
	return strings.Join(names, ", ")
}

// fieldParseError is returned by a field's UnmarshalJSON so that
// decodeJSON can name the field: encoding/json passes such errors on
// without saying where they came from.
type fieldParseError struct{ field, msg string }

func (e *fieldParseError) Error() string { return e.field + ": " + e.msg }

func jsonKind(k string) string {
	switch k {
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	case "int", "int64", "uint64", "float64":
		return "a number"
	}
	return "a " + k
}

// maxUserIDLen bounds user ids in paths and bodies.
const maxUserIDLen = 256

func validateUserID(field, id string) *apiError {
	if id == "" {
		return fieldError(field, "user id must not be empty")
	}
	if len(id) > maxUserIDLen {
		return fieldError(field, fmt.Sprintf("user id must be at most %d bytes", maxUserIDLen))
	}
	for _, r := range id {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return fieldError(field, "user id must not contain spaces or control characters")
		}
	}
	return nil
}

func queryInt(r *http.Request, key string, def, lo, hi int) (int, *apiError) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fieldError(key, fmt.Sprintf("%s must be an integer from %d to %d", key, lo, hi))
	}
	return n, nil
}
