package server

import (
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipRateListener bounds, per client address, the connections it may open
// a second (limits.connectionsPerSecondPerIP) and the bad requests it may
// make a second (limits.badRequestsPerSecondPerIP): connections the node
// closed for breaking the protocol or its limits, reported through
// badRequest. The check runs as each connection is accepted, before a
// byte of it is read, so refusing one costs the node an accept, a short
// write and a close: far less than parsing a request it would refuse
// anyway (an oversized header, say).
//
// A bad request is counted once the node has refused it, so connections
// accepted at one moment may all turn out bad; the address's bucket then
// goes into debt, and the address is refused until it has been repaid.
// Over time an address gets no more than its rate of bad requests parsed.
// Requests net/http is refusing on its own hold a token each meanwhile,
// and leave no debt (see refusedWatch).
//
// A refused connection gets a bare 429 with Retry-After once its request
// starts to arrive (an HTTP client takes an answer sent before its
// request for a broken connection), then is closed; what it sends is
// read and dropped, never parsed.
//
// The answer is held until the Retry-After has passed (hold): the
// connection waits in the kernel meanwhile and costs the node nothing but
// its socket. A client that does not wait as told, and asks again as
// soon as it is answered, is slowed to one request per hold on each
// connection it opens, instead of costing the node a refusal as fast as
// it can send; one that waits as told loses nothing.
type ipRateListener struct {
	net.Listener
	// perSecond and badPerSecond are the two rates; 0 turns one off.
	perSecond, badPerSecond int
	// refused counts a refusal, by the rule that made it (ruleIPRate or
	// ruleBadRequests).
	refused func(rule string)
	hold    time.Duration
	// answering bounds the refusals in progress; past it a connection is
	// closed without an answer.
	answering chan struct{}

	mu        sync.Mutex
	buckets   map[string]*ipBucket
	lastSweep time.Time
}

type ipBucket struct {
	// lim holds the connections the address may still open, bad the bad
	// requests it may still make; each is nil when its rule is off.
	lim, bad *rate.Limiter
	// unresolved counts the address's connections whose request was read
	// but neither handed to the handler nor closed yet: each may turn out
	// bad, so each holds a token of bad meanwhile.
	unresolved int
	seen       time.Time
	// bannedUntil refuses the address whatever its bucket holds, after
	// one of its connections was closed for abuse (ban).
	bannedUntil time.Time
}

// ipBucketIdle is how long an address's bucket outlives its last
// connection; a full bucket says nothing, so dropping it loses nothing.
const ipBucketIdle = time.Minute

// refusal is the whole answer a connection refused by rule gets, told to
// come back after retryAfter seconds.
func refusal(retryAfter int, rule string) []byte {
	why := "too many connections from this address"
	if rule == ruleBadRequests {
		why = "too many bad requests from this address"
	}
	body := `{"error":{"code":"rate_limited","message":"` + why + `; retry later"}}`
	return fmt.Appendf(nil, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: %d\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		retryAfter, len(body), body)
}

// The rules a refusal is counted under
// (realtime_connection_attempts_rejected_total's reason).
const (
	ruleIPRate      = "ip_rate"      // limits.connectionsPerSecondPerIP, or a ban
	ruleBadRequests = "bad_requests" // limits.badRequestsPerSecondPerIP
)

func newIPRateListener(ln net.Listener, perSecond, badPerSecond int, refused func(rule string)) *ipRateListener {
	return &ipRateListener{Listener: ln, perSecond: perSecond, badPerSecond: badPerSecond, refused: refused, hold: refusalHold,
		buckets: map[string]*ipBucket{}, answering: make(chan struct{}, maxRefusing)}
}

// Bounds of a refusal: how many at once, how long the answer is held (the
// Retry-After), how long each may take after that, how long what the
// client still sends after the answer is read and dropped, and how much.
const (
	maxRefusing   = 256
	refusalHold   = time.Second
	refusalTime   = 2 * time.Second
	refusalLinger = 250 * time.Millisecond
	refusalDrain  = 256 << 10
)

// Accept returns the next connection within its address's rate; the
// others are answered and closed here.
func (l *ipRateListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		retryAfter, rule := l.allow(c.RemoteAddr(), time.Now())
		if retryAfter == 0 {
			return c, nil
		}
		if l.refused != nil {
			l.refused(rule)
		}
		select {
		case l.answering <- struct{}{}:
			go l.refuse(c, time.Now().Add(l.hold), retryAfter, rule)
		default:
			_ = c.Close()
		}
	}
}

// refuse answers c with the 429 at answerAt, once its request has
// started, closes its sending side, and drops what the client still sends
// until it closes. Closing with unread bytes would reset the connection,
// and the client might lose the answer.
func (l *ipRateListener) refuse(c net.Conn, answerAt time.Time, retryAfter int, rule string) {
	defer func() { <-l.answering }()
	defer c.Close()
	time.Sleep(time.Until(answerAt))
	_ = c.SetDeadline(time.Now().Add(refusalTime))
	var buf [512]byte
	if _, err := c.Read(buf[:]); err != nil {
		return
	}
	if _, err := c.Write(refusal(retryAfter, rule)); err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	// A client's request has arrived whole by now; one still trickling
	// bytes (slowloris) is not waited for.
	_ = c.SetReadDeadline(time.Now().Add(refusalLinger))
	_, _ = io.Copy(io.Discard, io.LimitReader(c, refusalDrain))
}

// allow takes a token of addr's connection bucket. It returns 0 when the
// connection may go on, else how many seconds the client should wait and
// the rule that refused it.
func (l *ipRateListener) allow(addr net.Addr, now time.Time) (retryAfter int, rule string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > ipBucketIdle {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > ipBucketIdle && now.After(b.bannedUntil) && b.unresolved == 0 &&
				(b.bad == nil || b.bad.TokensAt(now) >= float64(l.badPerSecond)) {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b := l.bucketLocked(addrIP(addr.String()), now)
	if now.Before(b.bannedUntil) {
		return int(math.Ceil(b.bannedUntil.Sub(now).Seconds())), ruleIPRate
	}
	if b.bad != nil {
		if owed := 1 - b.bad.TokensAt(now) + float64(b.unresolved); owed > 0 {
			return max(1, int(math.Ceil(owed/float64(l.badPerSecond)))), ruleBadRequests
		}
	}
	if b.lim != nil && !b.lim.AllowN(now, 1) {
		return 1, ruleIPRate
	}
	return 0, ""
}

// addrIP is the address part of a host:port, or addr itself.
func addrIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

func (l *ipRateListener) bucketLocked(ip string, now time.Time) *ipBucket {
	b := l.buckets[ip]
	if b == nil {
		b = &ipBucket{}
		if l.perSecond > 0 {
			b.lim = rate.NewLimiter(rate.Limit(l.perSecond), l.perSecond)
		}
		if l.badPerSecond > 0 {
			b.bad = rate.NewLimiter(rate.Limit(l.badPerSecond), l.badPerSecond)
		}
		l.buckets[ip] = b
	}
	b.seen = now
	return b
}

// badRequest counts a request the node refused for what it was against
// the address addr (an IP, or host:port) made it from. Past the
// address's rate the bucket goes into debt: the address is refused until
// the debt is repaid.
func (l *ipRateListener) badRequest(addr string) {
	if l.badPerSecond <= 0 {
		return
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bucketLocked(addrIP(addr), now).bad.ReserveN(now, 1)
}

// unresolvedRequest adds d to the connections from addr (an IP, or
// host:port) whose request was read but neither handed to the handler nor
// closed yet (see refusedWatch).
func (l *ipRateListener) unresolvedRequest(addr string, d int) {
	if l.badPerSecond <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bucketLocked(addrIP(addr), time.Now()).unresolved += d
}

// ban refuses every connection from ip for d (rateLimit.abuse.ban), after
// one of its connections was closed for abuse.
func (l *ipRateListener) ban(ip string, d time.Duration) {
	if d <= 0 {
		return
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(ip, now)
	b.bannedUntil = now.Add(d)
}
