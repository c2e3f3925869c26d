package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
)

// Centrifugo's JSON protocol, so that the same runs measure Centrifugo
// side by side (hack/bench-compare.sh). A client sends
// {"id":1,"connect":{"token":...}}, then {"id":2,"subscribe":{"channel":...}},
// and gets each publication as {"push":{"channel":...,"pub":{"data":...}}}.
// The server may put several replies in one frame, one per line; it pings
// with {} and expects {} back. Publishes go to its HTTP API
// (POST /api/publish with X-API-Key). A colon starts a namespace there,
// so the channel is cfChannel rather than the runtime's bench:all.

const cfChannel = "bench_all"

func dialCentrifugo(ctx context.Context, d websocket.Dialer, u, token string) (*websocket.Conn, error) {
	c, resp, err := d.DialContext(ctx, u, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
		}
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	cmds := []string{
		fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, token),
		fmt.Sprintf(`{"id":2,"subscribe":{"channel":%q}}`, cfChannel),
	}
	for i, cmd := range cmds {
		if err := c.WriteMessage(websocket.TextMessage, []byte(cmd)); err != nil {
			c.Close()
			return nil, err
		}
		if err := cfAwaitReply(c, i+1); err != nil {
			c.Close()
			return nil, err
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, nil
}

// cfAwaitReply reads until the reply to command id, answering pings.
func cfAwaitReply(c *websocket.Conn, id int) error {
	for {
		_, p, err := c.ReadMessage()
		if err != nil {
			return err
		}
		for _, line := range bytes.Split(p, []byte("\n")) {
			var r struct {
				ID    int             `json:"id"`
				Error json.RawMessage `json:"error"`
			}
			if json.Unmarshal(line, &r) != nil || r.ID != id {
				continue
			}
			if r.Error != nil {
				return fmt.Errorf("command %d refused: %s", id, r.Error)
			}
			return nil
		}
	}
}

// countCentrifugo is count for Centrifugo's protocol.
func countCentrifugo(c *websocket.Conn, received func(line []byte)) {
	pushPrefix := []byte(`{"push":{"channel":"` + cfChannel + `","pub":`)
	for {
		_, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		for _, line := range bytes.Split(p, []byte("\n")) {
			switch {
			case bytes.HasPrefix(line, pushPrefix):
				received(line)
			case string(line) == "{}":
				if c.WriteMessage(websocket.TextMessage, []byte("{}")) != nil {
					return
				}
			}
		}
	}
}

// centrifugoPublisher posts data to cfChannel through Centrifugo's HTTP
// API; the API key is the load generator's --secret.
func centrifugoPublisher(o options) (func(ctx context.Context, payload any) error, error) {
	u, err := url.Parse(o.url)
	if err != nil {
		return nil, err
	}
	api := "http://" + u.Host + "/api/publish"
	return func(ctx context.Context, payload any) error {
		body, _ := json.Marshal(map[string]any{"channel": cfChannel, "data": payload})
		req, _ := http.NewRequestWithContext(ctx, "POST", api, bytes.NewReader(body))
		req.Header.Set("X-API-Key", o.secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var r struct {
			Error json.RawMessage `json:"error"`
		}
		if resp.StatusCode != 200 || (json.NewDecoder(resp.Body).Decode(&r) == nil && r.Error != nil) {
			return fmt.Errorf("publish: HTTP %d %s", resp.StatusCode, r.Error)
		}
		return nil
	}, nil
}
