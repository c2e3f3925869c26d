package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/test/procstat"
)

// storm drops every one of conns at once and redials them all, as clients
// do when a network blip cuts them together, then reports how long until
// every one was back and subscribed, the server's RSS peak as far as it
// was sampled, and whether its liveness probe answered afterwards.
func storm(ctx context.Context, o options, conns []*websocket.Conn, tokens []string) error {
	for _, c := range conns {
		_ = c.Close()
	}
	var peak int64
	sample := time.NewTicker(100 * time.Millisecond)
	defer sample.Stop()
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-sample.C:
				peak = max(peak, procstat.RSSKiB(o.pid))
			}
		}
	}()
	start := time.Now()
	back, _, err := dialAll(ctx, o, tokens)
	el := time.Since(start)
	close(stop)
	defer func() {
		for _, c := range back {
			_ = c.Close()
		}
	}()
	live := false
	if u, perr := url.Parse(o.url); perr == nil {
		if resp, herr := http.Get("http://" + u.Host + "/health/live"); herr == nil {
			live = resp.StatusCode == http.StatusOK
			resp.Body.Close()
		}
	}
	res := struct {
		Connections int     `json:"connections"`
		Back        int     `json:"back"`
		Seconds     float64 `json:"secondsUntilAllBack"`
		PeakRSSKiB  int64   `json:"peakRssKiB,omitempty"`
		Live        bool    `json:"liveAfter"`
	}{len(conns), len(back), el.Seconds(), peak, live}
	fmt.Printf("storm: %d connections dropped at once; %d back and subscribed in %s; server RSS peak %d KiB; live after: %v\n",
		res.Connections, res.Back, el.Round(time.Millisecond), res.PeakRSSKiB, res.Live)
	line, _ := json.Marshal(res)
	fmt.Println(string(line))
	switch {
	case err != nil:
		return err
	case !live:
		return fmt.Errorf("the server's /health/live did not answer 200 after the storm")
	}
	return nil
}
