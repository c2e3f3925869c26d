package rpcproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/fleetwire/fleetwire/runtime/protocol"
)

// Config configures a Proxy. Zero values mean the defaults.
type Config struct {
	// URL receives every forwarded event as a POST. Required.
	URL string
	// Timeout bounds one call, including reading the answer. Default 5s.
	Timeout time.Duration
	// MaxConcurrent bounds calls in flight across the node; more get
	// rpc_busy at once rather than queueing. Default 64.
	MaxConcurrent int
	// MaxResponseBytes bounds the answer. Default 1 MiB.
	MaxResponseBytes int64
	// Client makes the calls. Default: a client with Timeout.
	Client *http.Client
}

// Defaults for Config.
const (
	DefaultTimeout          = 5 * time.Second
	DefaultMaxConcurrent    = 64
	DefaultMaxResponseBytes = 1 << 20
)

// Error codes a forwarded event can get. They are part of the protocol.
const (
	CodeBusy        protocol.Code = "rpc_busy"        // too many calls in flight
	CodeTimeout     protocol.Code = "rpc_timeout"     // the backend did not answer in time
	CodeUnavailable protocol.Code = "rpc_unavailable" // the backend could not be reached
	CodeFailed      protocol.Code = "rpc_error"       // the backend answered with an error or bad JSON
)

// Caller identifies who sent the event.
type Caller struct {
	UserID       string   `json:"userId"`
	Email        string   `json:"email,omitempty"`
	Roles        []string `json:"roles,omitempty"`
	Teams        []string `json:"teams,omitempty"`
	Tier         string   `json:"tier,omitempty"`
	ConnectionID string   `json:"connectionId"`
}

// Call is the JSON body the backend receives.
type Call struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	User  Caller          `json:"user"`
}

// Proxy forwards calls. It is safe for concurrent use.
type Proxy struct {
	cfg   Config
	slots chan struct{}
}

// New returns a Proxy for cfg.
func New(cfg Config) (*Proxy, error) {
	if cfg.URL == "" {
		return nil, errors.New("rpcproxy: URL is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout}
	}
	return &Proxy{cfg: cfg, slots: make(chan struct{}, cfg.MaxConcurrent)}, nil
}

// TryAcquire takes a concurrency slot without waiting. The caller must
// Release it after Forward.
func (p *Proxy) TryAcquire() bool {
	select {
	case p.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// Release returns a slot taken by TryAcquire.
func (p *Proxy) Release() { <-p.slots }

// BusyError is the error for a call refused for lack of a slot.
func BusyError() *protocol.Error {
	return protocol.Errorf(CodeBusy, "too many custom events in flight; retry shortly")
}

// backendError is the error shape a backend may answer with; its message
// is shown to the client only for 4xx answers, which are about the request.
type backendError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Forward posts the call and returns the backend's JSON answer, or a
// client-safe error. requestID is sent as X-Request-ID.
func (p *Proxy) Forward(ctx context.Context, c Call, requestID string) (json.RawMessage, *protocol.Error) {
	if len(c.Data) == 0 {
		c.Data = json.RawMessage("null")
	}
	body, err := json.Marshal(c)
	if err != nil {
		return nil, protocol.Errorf(CodeFailed, "the event could not be forwarded")
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return nil, protocol.Errorf(CodeUnavailable, "the backend is not configured correctly")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-ID", requestID)
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) || isTimeout(err) {
			return nil, protocol.Errorf(CodeTimeout, "the backend did not answer %s within %s", c.Event, p.cfg.Timeout)
		}
		return nil, protocol.Errorf(CodeUnavailable, "the backend for %s could not be reached", c.Event)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, p.cfg.MaxResponseBytes+1))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) || isTimeout(err) {
			return nil, protocol.Errorf(CodeTimeout, "the backend did not answer %s within %s", c.Event, p.cfg.Timeout)
		}
		return nil, protocol.Errorf(CodeUnavailable, "the backend's answer to %s was cut off", c.Event)
	}
	if int64(len(raw)) > p.cfg.MaxResponseBytes {
		return nil, protocol.Errorf(CodeFailed, "the backend's answer to %s is larger than %d bytes", c.Event, p.cfg.MaxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := protocol.Errorf(CodeFailed, "the backend refused %s (HTTP %d)", c.Event, resp.StatusCode)
		var be backendError
		if resp.StatusCode < 500 && json.Unmarshal(raw, &be) == nil && be.Error.Message != "" {
			e.Message = be.Error.Message
		}
		return nil, e
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return json.RawMessage("null"), nil
	}
	if !json.Valid(raw) {
		return nil, protocol.Errorf(CodeFailed, "the backend's answer to %s is not JSON", c.Event)
	}
	return raw, nil
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// String describes the proxy for logs.
func (p *Proxy) String() string {
	return fmt.Sprintf("%s (timeout %s, %d concurrent)", p.cfg.URL, p.cfg.Timeout, p.cfg.MaxConcurrent)
}
