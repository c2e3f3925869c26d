package engineio_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/fleetwire/fleetwire/runtime/engineio"
)

// An echo server: every message a client sends comes back to it. The
// client here speaks raw HTTP long-polling to show the wire format; real
// clients are engine.io-client or socket.io-client.
func Example() {
	srv, err := engineio.NewServer(engineio.Config{
		OnConnection: func(s *engineio.Socket) {
			s.OnMessage(func(data []byte, binary bool) {
				_ = s.Send(engineio.Message{Data: append([]byte(nil), data...), Binary: binary})
			})
		},
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle(engineio.DefaultPath, srv)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer func() {
		// The client has no GET open, so nothing would fetch the close
		// packet: the deadline aborts the session.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()

	base := hs.URL + engineio.DefaultPath + "?EIO=4&transport=polling"
	open := fetch(http.Get(base))
	sid := strings.Split(strings.SplitN(open, `"sid":"`, 2)[1], `"`)[0]
	fmt.Println(fetch(http.Post(base+"&sid="+sid, "text/plain", strings.NewReader("4hello\x1ebAQID"))))
	fmt.Printf("%q\n", fetch(http.Get(base+"&sid="+sid)))
	// Output:
	// ok
	// "4hello\x1ebAQID"
}

func fetch(resp *http.Response, err error) string {
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
