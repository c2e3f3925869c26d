package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// socketIOAttachments connects over Socket.IO, again and again, and sends
// a binary packet announcing 1,001 attachments, more than a packet may
// have.
func (a *attacker) socketIOAttachments(ctx context.Context) *report {
	r := newReport()
	for ctx.Err() == nil && r.attempt() {
		ws, ok := a.sioConnect(ctx, "sio-attacker", r)
		if !ok {
			continue
		}
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`451001-["upload",{"_placeholder":true,"num":0}]`))
		readToEnd(ws, r, 2)
	}
	return r
}

// polling opens Socket.IO sessions on the polling transport, again and
// again, and breaks each: every other one gets a POST one byte over
// maxHttpBufferSize, the others two GETs at once.
func (a *attacker) polling(ctx context.Context) *report {
	r := newReport()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: a.dialer.DialContext}}
	base := "http://" + a.host + "/socket.io/?EIO=4&transport=polling"
	body := strings.Repeat("x", a.maxPayload+1)
	do := func(method, target, body string) (*http.Response, string, error) {
		req, _ := http.NewRequestWithContext(ctx, method, target, strings.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return resp, string(b), nil
	}
	for n := 0; ctx.Err() == nil && r.attempt(); n++ {
		resp, open, err := do(http.MethodGet, base, "")
		if err != nil || resp.StatusCode != http.StatusOK {
			waitRefused(ctx, resp, r)
			continue
		}
		var hs struct{ SID string }
		if err := json.Unmarshal([]byte(strings.TrimPrefix(open, "0")), &hs); err != nil {
			r.note("bad open packet", 0)
			continue
		}
		session := base + "&sid=" + url.QueryEscape(hs.SID)
		if n%2 == 0 {
			if resp, _, err := do(http.MethodPost, session, body); err == nil {
				r.note("status "+strconv.Itoa(resp.StatusCode), 1)
			}
			continue
		}
		// Two GETs at once: the second is refused, and the session ends.
		first := make(chan struct{})
		go func() {
			defer close(first)
			_, _, _ = do(http.MethodGet, session, "")
		}()
		time.Sleep(5 * time.Millisecond) // the first is waiting for data
		if resp, _, err := do(http.MethodGet, session, ""); err == nil {
			r.note("status "+strconv.Itoa(resp.StatusCode), 1)
		}
		<-first
	}
	return r
}

// sioFloods runs the three flooders of floods over Socket.IO's WebSocket
// transport: each frame becomes an EVENT packet with an ack id.
func (a *attacker) sioFloods(ctx context.Context) *report {
	return a.runFlooders(ctx, "sio-flooder", a.sioFlood)
}

func (a *attacker) sioFlood(ctx context.Context, user string, build func(int) map[string]any, r *report) {
	ws, ok := a.sioConnect(ctx, user, r)
	if !ok {
		return
	}
	// A flooding connection is cut within the runtime's abuse window, long
	// before Engine.IO's first ping, so the attack does not answer pings.
	_ = ws.SetReadDeadline(time.Time{})
	floodOn(ctx, ws, func(i int) []byte {
		f := build(i)
		args := []any{f["event"]}
		if data, ok := f["data"]; ok {
			args = append(args, data)
		}
		packet, _ := json.Marshal(args) // plain values: cannot fail
		return append([]byte("42"+strconv.Itoa(i)), packet...)
	}, closeReason, r)
}

// sioConnect opens a Socket.IO session on the WebSocket transport, with a
// read deadline 5s away, and connects it to the main namespace as user.
// A refused dial is noted and waited out, and sioConnect reports false.
func (a *attacker) sioConnect(ctx context.Context, user string, r *report) (*websocket.Conn, bool) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDialContext: a.dialer.DialContext}
	ws, resp, err := d.DialContext(ctx, "ws://"+a.host+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		waitRefused(ctx, resp, r)
		return nil, false
	}
	auth, _ := json.Marshal(map[string]string{"token": a.token(user)}) // cannot fail
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, _ = ws.ReadMessage() // the open packet
	_ = ws.WriteMessage(websocket.TextMessage, append([]byte("40"), auth...))
	return ws, true
}

// closeReason reads the "close_reason" event a Socket.IO connection gets
// before the runtime ends it, and names it as the native close would be
// named: "close_reason 1008 rate limit abuse".
func closeReason(p []byte) (string, bool) {
	body, ok := bytes.CutPrefix(p, []byte("42"))
	if !ok || !bytes.HasPrefix(body, []byte(`["close_reason",`)) {
		return "", false
	}
	var args []json.RawMessage
	var cr struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(body, &args) != nil || len(args) != 2 || json.Unmarshal(args[1], &cr) != nil {
		return "", false
	}
	return fmt.Sprintf("close_reason %d %s", cr.Code, cr.Reason), true
}
