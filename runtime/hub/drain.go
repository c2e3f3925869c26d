package hub

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// ErrClosing is returned by Accept once a drain has begun.
var ErrClosing = errors.New("hub: shutting down")

// DrainConfig paces a drain.
type DrainConfig struct {
	// Window spreads the closes evenly over this long. Zero closes every
	// connection at once.
	Window time.Duration
	// ReconnectDelayMax bounds the random reconnect delay suggested to
	// each client in its "reconnect" event.
	ReconnectDelayMax time.Duration
}

// drainTick is the shortest pause between two batches of closes: finer
// pacing would only cost timer wake-ups.
const drainTick = 50 * time.Millisecond

// Drain stops accepting sessions, then closes every session in batches
// spread over cfg.Window. Each client first gets a "reconnect" event with
// a jittered delay, then the 1012 "service restart" close, so the fleet
// does not get every client back at the same instant. Drain waits until
// all sessions have gone or ctx ends, when the rest are cut.
func (h *Hub) Drain(ctx context.Context, cfg DrainConfig) error {
	h.closing.Store(true)
	var all []*Session
	h.eachSession(func(s *Session) { all = append(all, s) })
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	batches := 1
	if cfg.Window > 0 && len(all) > 1 {
		batches = int(min(int64(len(all)), int64(cfg.Window/drainTick)))
		batches = max(batches, 1)
	}
	per := (len(all) + batches - 1) / max(batches, 1)
	pause := cfg.Window / time.Duration(batches)
	h.log.Info("draining", "connections", len(all), "window", cfg.Window.String(), "batches", batches)
	for i := 0; i < len(all); i += per {
		for _, s := range all[i:min(i+per, len(all))] {
			s.sendReconnect(jitter(cfg.ReconnectDelayMax), closeServiceRestart)
			s.close(closeServiceRestart)
		}
		if i+per >= len(all) {
			break
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			// Out of time: close the rest at once.
			for _, s := range all[i+per:] {
				s.close(closeServiceRestart)
			}
			i = len(all)
		}
	}
	return h.waitEmpty(ctx)
}

func jitter(limit time.Duration) time.Duration {
	if limit <= 0 {
		return 0
	}
	return rand.N(limit)
}

// Shutdown closes every session at once; it is Drain without pacing.
func (h *Hub) Shutdown(ctx context.Context) error {
	return h.Drain(ctx, DrainConfig{})
}

// waitEmpty waits until every session has gone, or cuts the rest when ctx
// ends, then releases what the hub owns.
func (h *Hub) waitEmpty(ctx context.Context) error {
	if h.count.Load() == 0 {
		h.emptyOnce.Do(func() { close(h.emptied) })
	}
	var err error
	select {
	case <-h.emptied:
	case <-ctx.Done():
		h.eachSession(func(s *Session) { s.conn.Abort() })
		err = fmt.Errorf("hub: %d connections still open at the shutdown deadline: %w", h.count.Load(), ctx.Err())
	}
	h.stop()
	if h.ownsSched {
		h.cfg.Scheduler.Close()
	}
	_ = h.cfg.Broker.Close()
	return err
}
