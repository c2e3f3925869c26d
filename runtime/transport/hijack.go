package transport

import (
	"bufio"
	"net"
	"net/http"

	"github.com/fleetwire/fleetwire/runtime/netbatch"
)

// hijackResponse hands gorilla/websocket a netbatch.Conn instead of the raw
// connection when it hijacks the request, and a read buffer of our own
// size that gorilla adopts as the connection's reader. Owning that
// bufio.Reader lets the read loop see whether a frame is already buffered
// before it waits on the socket.
type hijackResponse struct {
	http.ResponseWriter
	readSize int
	conn     *netbatch.Conn
	br       *bufio.Reader
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
	h.br = bufio.NewReaderSize(h.conn, h.readSize)
	return h.conn, bufio.NewReadWriter(h.br, brw.Writer), nil
}

func (h *hijackResponse) Unwrap() http.ResponseWriter { return h.ResponseWriter }
