package transport

import (
	"bufio"
	"net"
	"net/http"
	"sync"

	"github.com/fleetwire/fleetwire/runtime/netbatch"
	"github.com/fleetwire/fleetwire/runtime/netready"
)

// hijackResponse hands gorilla/websocket a netbatch.Conn instead of the raw
// connection when it hijacks the request, and a reader of our own that
// gorilla adopts as the connection's reader, holding a buffer borrowed
// from the upgrader's pool (see Conn.borrow). Owning that bufio.Reader
// lets the read loop see whether a frame is already buffered before it
// waits on the socket, and lend its buffer only while it reads.
type hijackResponse struct {
	http.ResponseWriter
	bufs *sync.Pool
	conn *netbatch.Conn
	lend netready.Lender // BR is the reader gorilla adopts
}

func (h *hijackResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &netbatch.Conn{Conn: c}
	if brw.Reader.Buffered() > 0 {
		// gorilla refuses this case itself; keep the server's reader so
		// the bytes are not lost before it does.
		return h.conn, brw, nil
	}
	h.lend = netready.Lender{BR: new(bufio.Reader), Src: h.conn, Pool: h.bufs}
	h.lend.Borrow()
	return h.conn, bufio.NewReadWriter(h.lend.BR, brw.Writer), nil
}

func (h *hijackResponse) Unwrap() http.ResponseWriter { return h.ResponseWriter }
