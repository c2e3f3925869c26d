package hub

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetwire/fleetwire/runtime/message"
	"github.com/fleetwire/fleetwire/runtime/metrics"
	"github.com/fleetwire/fleetwire/runtime/protocol"
)

// outbound is one message on its way to many connections. It is encoded at
// most once per codec, however many connections receive it.
type outbound struct {
	msg *message.Message

	mu      sync.Mutex
	data    json.RawMessage
	encoded []encoding
	sent    prometheus.Counter // this message's type in messages_sent_total
}

// sentCounter returns the messages_sent_total counter for the message's
// type, looked up once per message rather than once per receiver.
func (o *outbound) sentCounter(m *metrics.Metrics) prometheus.Counter {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.sent == nil {
		o.sent = m.MessagesSent.WithLabelValues(m.TypeLabel(o.msg.Type))
	}
	return o.sent
}

type encoding struct {
	codec protocol.Codec
	frame *protocol.Prepared
}

func newOutbound(msg *message.Message) *outbound { return &outbound{msg: msg} }

// prepared returns the frame for codec c, encoding it on first use.
func (o *outbound) prepared(c protocol.Codec) (*protocol.Prepared, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, e := range o.encoded {
		if e.codec == c {
			return e.frame, nil
		}
	}
	if o.data == nil {
		d, err := json.Marshal(o.msg)
		if err != nil {
			return nil, fmt.Errorf("while encoding message %s: %w", o.msg.ID, err)
		}
		o.data = d
	}
	var b []byte
	var err error
	if me, ok := c.(protocol.MessageEncoder); ok {
		b, err = me.EncodeMessage(o.msg.Type, o.msg.ID, o.data)
	} else {
		b, err = c.EncodeEvent(o.msg.Type, o.data)
	}
	if err != nil {
		return nil, fmt.Errorf("while encoding message %s: %w", o.msg.ID, err)
	}
	p := protocol.NewPrepared(b)
	o.encoded = append(o.encoded, encoding{codec: c, frame: p})
	return p, nil
}
