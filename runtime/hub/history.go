package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/protocol"
)

// The history API: a channel's recent publications, read over HTTP
// (GET /ws/channels/:channel/history) or with the history client event,
// for a client that wants what it missed without subscribing again.

// History page sizes.
const (
	DefaultHistoryLimit = 100
	MaxHistoryLimit     = 1000
)

// HistoryQuery asks for one page of a channel's history.
type HistoryQuery struct {
	Channel string `json:"channel"`
	// Since, when set, asks for the publications after this id, oldest
	// first. Unset asks for the newest ones.
	Since *string `json:"since,omitempty"`
	// Limit bounds the page; default DefaultHistoryLimit, at most
	// MaxHistoryLimit.
	Limit int `json:"limit,omitempty"`
}

// HistoryPage is one page of a channel's history, oldest first.
type HistoryPage struct {
	Channel      string             `json:"channel"`
	Publications []*message.Message `json:"publications"`
	// Recovered answers Since: true when the id is still in the history,
	// so the page starts right after it and nothing was missed; false
	// when the gap is larger than the history, and the page is empty.
	Recovered *bool `json:"recovered,omitempty"`
	// More says the page was cut at the limit. With Since, ask again from
	// the page's last id; without, older publications were left out.
	More bool `json:"more"`
}

// ErrNoHistory is returned for a channel whose namespace keeps no history.
var ErrNoHistory = errors.New("the channel's namespace keeps no history")

// History reads one page of a channel's history.
func (h *Hub) History(ctx context.Context, q HistoryQuery) (HistoryPage, error) {
	if q.Limit <= 0 {
		q.Limit = DefaultHistoryLimit
	}
	q.Limit = min(q.Limit, MaxHistoryLimit)
	_, ttl, ok := h.cfg.Policy.HistoryFor(q.Channel)
	if !ok {
		return HistoryPage{}, fmt.Errorf("%w: %s", ErrNoHistory, q.Channel)
	}
	page := HistoryPage{Channel: q.Channel, Publications: []*message.Message{}}
	if q.Since == nil {
		msgs, err := h.cfg.History.Recent(ctx, q.Channel, ttl)
		if err != nil {
			return HistoryPage{}, fmt.Errorf("%w: reading the history of %s: %w", ErrUnavailable, q.Channel, err)
		}
		if len(msgs) > q.Limit {
			msgs, page.More = msgs[len(msgs)-q.Limit:], true
		}
		page.Publications = append(page.Publications, msgs...)
		return page, nil
	}
	msgs, recovered, err := h.cfg.History.Since(ctx, q.Channel, *q.Since, ttl)
	if err != nil {
		return HistoryPage{}, fmt.Errorf("%w: reading the history of %s: %w", ErrUnavailable, q.Channel, err)
	}
	page.Recovered = &recovered
	if len(msgs) > q.Limit {
		msgs, page.More = msgs[:q.Limit], true
	}
	page.Publications = append(page.Publications, msgs...)
	return page, nil
}

// handleHistory answers the history event for a channel the client may
// subscribe to.
func (s *Session) handleHistory(f Frame) (any, *protocol.Error) {
	var q HistoryQuery
	if len(f.Data) == 0 || json.Unmarshal(f.Data, &q) != nil || q.Channel == "" {
		return nil, protocol.Errorf(protocol.CodeInvalidData, `history needs data {"channel": "<name>", "since"?: "<message id>", "limit"?: n}`)
	}
	if q.Limit < 0 || q.Limit > MaxHistoryLimit {
		return nil, protocol.Errorf(protocol.CodeInvalidData, "history's limit must be from 1 to %d", MaxHistoryLimit)
	}
	if err := s.hub.cfg.Policy.Authorize(s.Claims(), q.Channel); err != nil {
		return nil, asProtocolError(err)
	}
	page, err := s.hub.History(s.hub.ctx, q)
	switch {
	case errors.Is(err, ErrNoHistory):
		return nil, protocol.Errorf(protocol.CodeHistoryDisabled, "channel %s keeps no history: its namespace has none", q.Channel)
	case err != nil:
		s.hub.log.Error(err, "history read failed", "channel", q.Channel, "userId", s.userID)
		return nil, protocol.Errorf(protocol.CodeStoreUnavailable, "the history could not be read; retry")
	}
	return page, nil
}
