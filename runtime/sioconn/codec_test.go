package sioconn

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/fleetwire/fleetwire/runtime/protocol"
	"github.com/fleetwire/fleetwire/runtime/socketio"
)

func TestCodecEncodes(t *testing.T) {
	c := Codec{}
	tests := []struct {
		name string
		got  func() ([]byte, error)
		want string
	}{
		{"event", func() ([]byte, error) { return c.EncodeEvent("connected", json.RawMessage(`{"a":1}`)) }, `2["connected",{"a":1}]`},
		{"event without data", func() ([]byte, error) { return c.EncodeEvent("pong", nil) }, `2["pong"]`},
		{"message with its offset", func() ([]byte, error) {
			return c.EncodeMessage("notification", "01-ab-7", json.RawMessage(`{"id":"01-ab-7"}`))
		}, `2["notification",{"id":"01-ab-7"},"01-ab-7"]`},
		{"ack", func() ([]byte, error) { return c.EncodeAck(12, json.RawMessage(`{"ok":true}`)) }, `312[{"ok":true}]`},
		{"ack without data", func() ([]byte, error) { return c.EncodeAck(3, nil) }, `33[null]`},
		{"error answering an ack", func() ([]byte, error) {
			return c.EncodeError(4, true, protocol.Errorf(protocol.CodeRateLimited, "slow down"))
		}, `34[{"error":{"code":"rate_limited","message":"slow down"}}]`},
		{"error event", func() ([]byte, error) {
			return c.EncodeError(0, false, protocol.Errorf(protocol.CodeUnknownEvent, "no"))
		}, `2["error",{"code":"unknown_event","message":"no"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.got()
			if err != nil || string(b) != tt.want {
				t.Fatalf("got %s, %v; want %s", b, err, tt.want)
			}
			if _, err := socketio.DecodePacket(b); err != nil {
				t.Errorf("not a valid packet: %v", err)
			}
		})
	}
}

func TestWithoutOffset(t *testing.T) {
	b, _ := Codec{}.EncodeMessage("n", "id-1", json.RawMessage(`{"x":1}`))
	if got := string(withoutOffset(b, "id-1")); got != `2["n",{"x":1}]` {
		t.Errorf("got %s", got)
	}
	if got := string(withoutOffset([]byte(`2["n"]`), "id-1")); got != `2["n"]` {
		t.Errorf("a packet without the offset changed: %s", got)
	}
}

func TestCodecDecodes(t *testing.T) {
	c := Codec{}
	f, err := c.Decode([]byte(`27["subscribe",{"channels":["a"]}]`))
	if err != nil || f.Event != "subscribe" || !f.HasID || f.ID != 7 || string(f.Data) != `{"channels":["a"]}` {
		t.Fatalf("got %+v, %v", f, err)
	}
	if f, err := c.Decode([]byte(`2["ping",null]`)); err != nil || f.Data != nil || f.HasID {
		t.Fatalf("null data: %+v, %v", f, err)
	}
	for _, bad := range []string{`3[1]`, `2/admin,["x"]`, `not a packet`, `2[1]`, `2["` + string(make([]byte, 0)) + `"]`} {
		_, err := c.Decode([]byte(bad))
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CodeBadFrame {
			t.Errorf("%q: want bad_frame, got %v", bad, err)
		}
	}
}
