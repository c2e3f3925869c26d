// Command attacker runs the hostile-client suite's attacks against a
// runtime on loopback, from a process of its own, so that a test can
// measure what they cost other clients without the attackers' own work in
// the measuring process (test/e2e's TestAttacksInAnotherProcess).
//
//	attacker --url http://127.0.0.1:8080 --secret "$JWT_SECRET" --for 3s --from 127.0.0.66
//
// Every attack runs in parallel with the others until --for has passed,
// bounded in connections and frames. When done it prints one JSON object:
// for each attack, what was tried and how the runtime answered.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/fleetwire/fleetwire/runtime/auth"
)

// Bounds on what one run may do, whatever the flags say.
const (
	maxDuration       = time.Minute
	framesPerFlood    = 2000 // frames one flooding connection sends at most
	slowConns         = 50   // slowloris connections held at once
	maxAttemptsPerRun = 5000 // connections or requests one attack opens at most
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "attacker:", err)
		os.Exit(1)
	}
}

func run() error {
	base := flag.String("url", "", "the runtime's base URL, http://127.0.0.1:PORT (loopback only)")
	secret := flag.String("secret", "", "the runtime's HS256 JWT secret, to sign the attackers' tokens")
	d := flag.Duration("for", 3*time.Second, "how long the attacks last, at most 1m")
	which := flag.String("attacks", "floods,slowloris,headers,socketio", "the attacks to run, comma-separated: floods, slowloris, headers, socketio, siofloods, polling, deflate, or none (the control: nothing is sent)")
	maxPayload := flag.Int("max-payload", 1_000_000, "the runtime's socketIO.maxHttpBufferSize: the polling attack's bodies are one byte over it")
	from := flag.String("from", "", "the loopback address the attacks come from, as an attacker has an address of its own (default: the system's choice)")
	flag.Parse()
	u, err := url.Parse(*base)
	if err != nil || u.Scheme != "http" {
		return fmt.Errorf("--url %q: want http://127.0.0.1:PORT", *base)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--url %q: only loopback targets are attacked", *base)
	}
	if *secret == "" {
		return errors.New("--secret is required")
	}
	if *d <= 0 || *d > maxDuration {
		return fmt.Errorf("--for %s: want more than 0 and at most %s", *d, maxDuration)
	}
	if *maxPayload < 1 || *maxPayload > 100<<20 {
		return fmt.Errorf("--max-payload %d: want from 1 to %d", *maxPayload, 100<<20)
	}
	a := &attacker{host: u.Host, secret: []byte(*secret), maxPayload: *maxPayload}
	if *from != "" {
		ip := net.ParseIP(*from)
		if ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("--from %q: want a loopback address", *from)
		}
		a.dialer.LocalAddr = &net.TCPAddr{IP: ip}
	}
	attacks := map[string]func(context.Context) *report{
		"floods":    a.floods,
		"slowloris": a.slowloris,
		"headers":   a.oversizedHeaders,
		"socketio":  a.socketIOAttachments,
		"siofloods": a.sioFloods,
		"polling":   a.polling,
		"deflate":   a.deflateBomb,
		"none":      idle,
	}
	ctx, cancel := context.WithTimeout(context.Background(), *d)
	defer cancel()
	results := map[string]*report{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range strings.Split(*which, ",") {
		attack, ok := attacks[name]
		if !ok {
			return fmt.Errorf("--attacks: unknown attack %q", name)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := attack(ctx)
			mu.Lock()
			results[name] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(results)
}

// report is what one attack tried and how the runtime answered: answers
// counts each kind of answer, such as "close 1008 rate limit abuse" or
// "status 431".
type report struct {
	mu       sync.Mutex
	Attempts int            `json:"attempts"`
	Frames   int            `json:"frames,omitempty"`
	Answers  map[string]int `json:"answers"`
}

func newReport() *report { return &report{Answers: map[string]int{}} }

func (r *report) note(answer string, frames int) {
	r.mu.Lock()
	r.Answers[answer]++
	r.Frames += frames
	r.mu.Unlock()
}

// attempt counts one more connection or request, and reports whether the
// attack may open it.
func (r *report) attempt() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Attempts >= maxAttemptsPerRun {
		return false
	}
	r.Attempts++
	return true
}

type attacker struct {
	host       string
	secret     []byte
	maxPayload int        // the runtime's socketIO.maxHttpBufferSize
	dialer     net.Dialer // every connection of every attack
}

func (a *attacker) token(user string) string {
	tok, err := auth.SignHS256(a.secret, auth.TokenRequest{UserID: user, TTL: time.Hour})
	if err != nil {
		panic(err) // a fixed HS256 request cannot fail to sign
	}
	return tok
}

// floodFrames builds the frames of the three flooders: unknown events,
// pings, and subscribes naming 100 new channels a frame.
var floodFrames = []func(i int) map[string]any{
	func(i int) map[string]any { return map[string]any{"event": "no_such_event", "id": i} },
	func(i int) map[string]any { return map[string]any{"event": "ping", "id": i} },
	func(i int) map[string]any {
		names := make([]string, 100)
		for j := range names {
			names[j] = fmt.Sprintf("flood:%d-%d", i, j)
		}
		return map[string]any{"event": "subscribe", "id": i, "data": map[string]any{"channels": names}}
	},
}

// floods runs the three flooders at once over the native protocol. Each
// sends as fast as it can until the runtime closes it, then dials again,
// waiting as long as a refusal's Retry-After says.
func (a *attacker) floods(ctx context.Context) *report { return a.runFlooders(ctx, "flooder", a.flood) }

// flooder floods the runtime from one connection of user with the frames
// build makes, and notes how the connection ended.
type flooder func(ctx context.Context, user string, build func(int) map[string]any, r *report)

func (a *attacker) runFlooders(ctx context.Context, users string, flood flooder) *report {
	r := newReport()
	var wg sync.WaitGroup
	for k, b := range floodFrames {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil && r.attempt(); n++ {
				flood(ctx, fmt.Sprintf("%s-%d-%d", users, k, n), b, r)
			}
		}()
	}
	wg.Wait()
	return r
}

func (a *attacker) flood(ctx context.Context, user string, build func(int) map[string]any, r *report) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDialContext: a.dialer.DialContext}
	ws, resp, err := d.DialContext(ctx, "ws://"+a.host+"/ws", http.Header{"Authorization": {"Bearer " + a.token(user)}})
	if err != nil {
		waitRefused(ctx, resp, r)
		return
	}
	floodOn(ctx, ws, func(i int) []byte {
		b, _ := json.Marshal(build(i)) // plain values: cannot fail
		return b
	}, nil, r)
}

// floodOn sends framesPerFlood text frames, the ith encode(i), on ws as
// fast as it can, reads what comes back until ws ends, and closes it. It
// notes how ws ended: the first name closing gives a frame read, else the
// close itself.
func floodOn(ctx context.Context, ws *websocket.Conn, encode func(i int) []byte, closing func([]byte) (string, bool), r *report) {
	defer ws.Close()
	stop := context.AfterFunc(ctx, func() { _ = ws.Close() })
	defer stop()
	sent := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= framesPerFlood; i++ {
			_ = ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if ws.WriteMessage(websocket.TextMessage, encode(i)) != nil {
				return
			}
			sent = i
		}
	}()
	answer := ""
	for {
		_, p, err := ws.ReadMessage()
		if err != nil {
			<-done
			if answer == "" {
				answer = closeAnswer(err)
			}
			r.note(answer, sent)
			return
		}
		if answer == "" && closing != nil {
			answer, _ = closing(p)
		}
	}
}

// slowloris holds slowConns connections that send an upgrade request's
// headers a line every 100ms, and opens a new one whenever one is cut.
func (a *attacker) slowloris(ctx context.Context) *report {
	r := newReport()
	var wg sync.WaitGroup
	for range slowConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && r.attempt() {
				r.note(a.slowOnce(ctx), 0)
			}
		}()
	}
	wg.Wait()
	return r
}

func (a *attacker) slowOnce(ctx context.Context) string {
	conn, err := a.dialer.DialContext(ctx, "tcp", a.host)
	if err != nil {
		return "dial failed"
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	cut := make(chan struct{})
	go func() {
		defer close(cut)
		_, _ = bufio.NewReader(conn).ReadString(0) // returns when the runtime closes
	}()
	if _, err := conn.Write([]byte("GET /ws HTTP/1.1\r\nHost: localhost\r\n")); err != nil {
		return "cut"
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-cut:
			if ctx.Err() != nil {
				return "still open at the end"
			}
			return "cut"
		case <-ctx.Done():
			return "still open at the end"
		case <-tick.C:
			_, _ = conn.Write([]byte("X-Slow: 1\r\n"))
		}
	}
}

// oversizedHeaders sends requests whose headers add up to 100 KiB, one
// after another.
func (a *attacker) oversizedHeaders(ctx context.Context) *report {
	r := newReport()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: a.dialer.DialContext}}
	big := strings.Repeat("x", 1<<10)
	for ctx.Err() == nil && r.attempt() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.host+"/health", nil)
		for i := range 100 {
			req.Header.Set("X-Big-"+strconv.Itoa(i), big)
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				r.note("request failed", 0)
			}
			continue
		}
		_ = resp.Body.Close()
		r.note("status "+strconv.Itoa(resp.StatusCode), 0)
	}
	return r
}

// deflateBomb connects with permessage-deflate, again and again, and
// sends a message of 1 MiB of spaces, about a kilobyte on the wire, that
// inflates past the runtime's limits.maxMessageBytes.
func (a *attacker) deflateBomb(ctx context.Context) *report {
	r := newReport()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDialContext: a.dialer.DialContext, EnableCompression: true}
	bomb := []byte(`{"event":"ping","data":"` + strings.Repeat(" ", 1<<20) + `"}`)
	header := http.Header{"Authorization": {"Bearer " + a.token("deflater")}}
	for ctx.Err() == nil && r.attempt() {
		ws, resp, err := d.DialContext(ctx, "ws://"+a.host+"/ws", header)
		if err != nil {
			waitRefused(ctx, resp, r)
			continue
		}
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, _ = ws.ReadMessage() // connected
		ws.EnableWriteCompression(true)
		_ = ws.WriteMessage(websocket.TextMessage, bomb)
		readToEnd(ws, r, 1)
	}
	return r
}

// idle sends nothing until the time is up: the control, which shows how
// much a bystander's figures move by themselves.
func idle(ctx context.Context) *report {
	<-ctx.Done()
	return newReport()
}

// readToEnd reads ws until it ends, notes how with the frames the attack
// sent on it, and closes it.
func readToEnd(ws *websocket.Conn, r *report, frames int) {
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			r.note(closeAnswer(err), frames)
			break
		}
	}
	_ = ws.Close()
}

// closeAnswer names how a connection ended.
func closeAnswer(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("close %d %s", ce.Code, ce.Text)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "read timed out"
	}
	return "connection ended"
}

// waitRefused notes a refused dial and waits as long as its Retry-After
// says, or 100ms.
func waitRefused(ctx context.Context, resp *http.Response, r *report) {
	wait := 100 * time.Millisecond
	if resp == nil {
		r.note("dial failed", 0)
	} else {
		r.note("status "+strconv.Itoa(resp.StatusCode), 0)
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(wait):
	}
}
