package netready

import (
	"bufio"
	"io"
	"sync"
)

// Lender lends a connection's reader a buffer from a pool only while the
// connection reads. A WebSocket library keeps the bufio.Reader it adopted
// at the upgrade (BR) for the connection's life, and reads only when the
// connection's reader calls it. Between reads, when nothing is buffered,
// BR is emptied (its buffer goes back to Pool) and Borrow fills it again
// before the next read. Each idle connection then holds no read buffer;
// a busy one borrows and returns a buffer per wake-up, without
// allocating.
//
// It is a value, so that a reader goroutine can hold it on its stack; only
// that goroutine, or the one it waits for, may call its methods.
type Lender struct {
	// BR is the reader the library reads from; nil means nothing to lend.
	BR *bufio.Reader
	// Src is what BR reads: the connection.
	Src io.Reader
	// Pool holds *bufio.Reader of one size.
	Pool *sync.Pool
	// lent is the pooled reader whose buffer BR holds; nil while BR is
	// empty.
	lent *bufio.Reader
}

// Borrow gives BR a buffer before anything reads from it.
func (l *Lender) Borrow() {
	if l.lent != nil || l.BR == nil || l.Pool == nil {
		return
	}
	l.lent = l.Pool.Get().(*bufio.Reader)
	l.lent.Reset(l.Src)
	*l.BR = *l.lent
}

// GiveBack returns BR's buffer to the pool once nothing is buffered in
// it: a partly read frame keeps it.
func (l *Lender) GiveBack() {
	if l.lent != nil && l.BR.Buffered() == 0 {
		l.Release()
	}
}

// Release returns BR's buffer to the pool, buffered bytes or not; the
// connection is read no more.
func (l *Lender) Release() {
	if l.lent == nil {
		return
	}
	*l.lent = *l.BR // the state the library advanced, over the same buffer
	l.lent.Reset(nil)
	*l.BR = bufio.Reader{}
	l.Pool.Put(l.lent)
	l.lent = nil
}

// Lent reports whether BR holds a buffer from the pool.
func (l *Lender) Lent() bool { return l.lent != nil }
