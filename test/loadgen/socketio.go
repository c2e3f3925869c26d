package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
)

// dialSocketIO opens a Socket.IO connection the way socket.io-client does
// with transports: ['websocket']: the Engine.IO handshake on the
// WebSocket, CONNECT with the token in the auth payload, then the same
// subscribe as a native connection, with an ack.
func dialSocketIO(ctx context.Context, d websocket.Dialer, raw, token string) (*websocket.Conn, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("EIO", "4")
	q.Set("transport", "websocket")
	u.RawQuery = q.Encode()
	c, resp, err := d.DialContext(ctx, u.String(), nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
		}
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	auth, _ := json.Marshal(map[string]string{"token": token})
	steps := []struct {
		send   string
		expect string
	}{
		{"", "0{"},                   // Engine.IO open
		{"40" + string(auth), "40{"}, // CONNECT accepted
		{"", `42["connected"`},       // the runtime's "connected"
		{`420["subscribe",{"channels":["bench:all"]}]`, "430["},
	}
	for _, s := range steps {
		if s.send != "" {
			if err := c.WriteMessage(websocket.TextMessage, []byte(s.send)); err != nil {
				c.Close()
				return nil, err
			}
		}
		_, p, err := c.ReadMessage()
		if err != nil || !bytes.HasPrefix(p, []byte(s.expect)) {
			c.Close()
			return nil, fmt.Errorf("expected %s, got %q: %v", s.expect, p, err)
		}
		if s.expect == "430[" && !bytes.Contains(p, []byte(`"ok":true`)) {
			c.Close()
			return nil, fmt.Errorf("subscribe failed: %s", p)
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, nil
}
