package netready

import "syscall"

// Wait returns once a read on raw would not block: data is queued, the
// peer closed, or the socket failed. It consumes nothing. Errors are left
// for the read that follows. Without a peek (on systems other than Linux)
// it returns at once, and the read blocks as usual.
func Wait(raw syscall.RawConn) {
	// Go's poller is edge-triggered: waiting without checking first could
	// sleep forever on data that arrived before the wait began, so the
	// check runs first and again after every wake-up.
	_ = raw.Read(readable)
}

// Of returns the raw connection of c, or nil when c has none (a TLS or
// test connection); callers then skip the wait.
func Of(c any) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}
