package server

import (
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipRateListener bounds the connections one client address may open a
// second (limits.connectionsPerSecondPerIP). The check runs as each
// connection is accepted, before a byte of it is read, so refusing one
// costs the node an accept, a short write and a close: far less than
// parsing a request it would refuse anyway (an oversized header, say).
// A refused connection gets a bare 429 with Retry-After once its request
// starts to arrive (an HTTP client takes an answer sent before its
// request for a broken connection), then is closed; what it sends is
// read and dropped, never parsed.
type ipRateListener struct {
	net.Listener
	perSecond int
	refused   func()
	// answering bounds the refusals in progress; past it a connection is
	// closed without an answer.
	answering chan struct{}

	mu        sync.Mutex
	buckets   map[string]*ipBucket
	lastSweep time.Time
}

type ipBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// ipBucketIdle is how long an address's bucket outlives its last
// connection; a full bucket says nothing, so dropping it loses nothing.
const ipBucketIdle = time.Minute

// refusal is the whole answer a refused connection gets.
var refusal = []byte("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Type: application/json\r\nContent-Length: 97\r\nConnection: close\r\n\r\n" +
	`{"error":{"code":"rate_limited","message":"too many connections from this address; retry later"}}`)

func newIPRateListener(ln net.Listener, perSecond int, refused func()) *ipRateListener {
	return &ipRateListener{Listener: ln, perSecond: perSecond, refused: refused, buckets: map[string]*ipBucket{},
		answering: make(chan struct{}, maxRefusing)}
}

// Bounds of a refusal: how many at once, how long each may take, and how
// much of what the client sends is read and dropped.
const (
	maxRefusing  = 256
	refusalTime  = 2 * time.Second
	refusalDrain = 256 << 10
)

// Accept returns the next connection within its address's rate; the
// others are answered and closed here.
func (l *ipRateListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.allow(c.RemoteAddr(), time.Now()) {
			return c, nil
		}
		if l.refused != nil {
			l.refused()
		}
		select {
		case l.answering <- struct{}{}:
			go l.refuse(c)
		default:
			_ = c.Close()
		}
	}
}

// refuse answers c with the 429 once its request has started, closes its
// sending side, and drops what the client still sends until it closes.
// Closing with unread bytes would reset the connection, and the client
// might lose the answer.
func (l *ipRateListener) refuse(c net.Conn) {
	defer func() { <-l.answering }()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(refusalTime))
	var buf [512]byte
	if _, err := c.Read(buf[:]); err != nil {
		return
	}
	if _, err := c.Write(refusal); err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(c, refusalDrain))
}

func (l *ipRateListener) allow(addr net.Addr, now time.Time) bool {
	ip := addr.String()
	if ta, ok := addr.(*net.TCPAddr); ok {
		ip = ta.IP.String()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > ipBucketIdle {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > ipBucketIdle {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b := l.buckets[ip]
	if b == nil {
		b = &ipBucket{lim: rate.NewLimiter(rate.Limit(l.perSecond), l.perSecond)}
		l.buckets[ip] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}
