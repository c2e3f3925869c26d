package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestDecodePacket(t *testing.T) {
	tests := []struct {
		in   string
		want Packet
	}{
		// The examples of the specification's "Packet encoding" section.
		{`0`, Packet{Type: PacketConnect, Namespace: "/"}},
		{`0{"sid":"wZX3oN0bSVIhsaknAAAI"}`, Packet{Type: PacketConnect, Namespace: "/", Data: raw(`{"sid":"wZX3oN0bSVIhsaknAAAI"}`)}},
		{`0/admin,`, Packet{Type: PacketConnect, Namespace: "/admin"}},
		{`0/admin,{"token":"123"}`, Packet{Type: PacketConnect, Namespace: "/admin", Data: raw(`{"token":"123"}`)}},
		{`4{"message":"Not authorized"}`, Packet{Type: PacketConnectError, Namespace: "/", Data: raw(`{"message":"Not authorized"}`)}},
		{`4"legacy"`, Packet{Type: PacketConnectError, Namespace: "/", Data: raw(`"legacy"`)}},
		{`2["foo"]`, Packet{Type: PacketEvent, Namespace: "/", Data: raw(`["foo"]`)}},
		{`2/admin,["bar"]`, Packet{Type: PacketEvent, Namespace: "/admin", Data: raw(`["bar"]`)}},
		{`51-["baz",{"_placeholder":true,"num":0}]`, Packet{Type: PacketBinaryEvent, Namespace: "/", Attachments: 1, Data: raw(`["baz",{"_placeholder":true,"num":0}]`)}},
		{`52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, Packet{Type: PacketBinaryEvent, Namespace: "/admin", Attachments: 2, Data: raw(`["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)}},
		{`212["foo"]`, Packet{Type: PacketEvent, Namespace: "/", ID: 12, HasID: true, Data: raw(`["foo"]`)}},
		{`312[]`, Packet{Type: PacketAck, Namespace: "/", ID: 12, HasID: true, Data: raw(`[]`)}},
		{`2/admin,13["foo"]`, Packet{Type: PacketEvent, Namespace: "/admin", ID: 13, HasID: true, Data: raw(`["foo"]`)}},
		{`3/admin,13["bar"]`, Packet{Type: PacketAck, Namespace: "/admin", ID: 13, HasID: true, Data: raw(`["bar"]`)}},
		{`51-14["foo",{"_placeholder":true,"num":0}]`, Packet{Type: PacketBinaryEvent, Namespace: "/", ID: 14, HasID: true, Attachments: 1, Data: raw(`["foo",{"_placeholder":true,"num":0}]`)}},
		{`61-15["bar",{"_placeholder":true,"num":0}]`, Packet{Type: PacketBinaryAck, Namespace: "/", ID: 15, HasID: true, Attachments: 1, Data: raw(`["bar",{"_placeholder":true,"num":0}]`)}},
		{`461-/admin,1[{"_placeholder":true,"num":0}]`[1:], Packet{Type: PacketBinaryAck, Namespace: "/admin", ID: 1, HasID: true, Attachments: 1, Data: raw(`[{"_placeholder":true,"num":0}]`)}},
		{`1`, Packet{Type: PacketDisconnect, Namespace: "/"}},
		{`1/admin,`, Packet{Type: PacketDisconnect, Namespace: "/admin"}},
		// Less common but valid forms.
		{`1/admin`, Packet{Type: PacketDisconnect, Namespace: "/admin"}},
		{`2[42,"x"]`, Packet{Type: PacketEvent, Namespace: "/", Data: raw(`[42,"x"]`)}},
		{`50-["b"]`, Packet{Type: PacketBinaryEvent, Namespace: "/", Data: raw(`["b"]`)}},
		{`2/a/b,18446744073709551615["x"]`, Packet{Type: PacketEvent, Namespace: "/a/b", ID: 1<<64 - 1, HasID: true, Data: raw(`["x"]`)}},
	}
	for _, tt := range tests {
		got, err := DecodePacket([]byte(tt.in))
		if err != nil {
			t.Errorf("DecodePacket(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("DecodePacket(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestDecodePacketErrors(t *testing.T) {
	for _, in := range []string{
		``,
		`7`,
		`x`,
		`2`,                        // an event needs a payload
		`2[]`,                      // ... a non-empty array
		`2{"a":1}`,                 // ... an array
		`2[{}]`,                    // ... whose first element names the event
		`2["connect"]`,             // ... with a name that is not reserved
		`2["disconnect",1]`,        // idem
		`2["foo"`,                  // not JSON
		`2["foo"]x`,                // trailing garbage
		`3`,                        // an ack needs an array
		`3{}`,                      // idem
		`0[]`,                      // a connect payload is an object
		`0"x"`,                     // idem
		`1{}`,                      // a disconnect has no payload
		`4[]`,                      // a connect error is an object or a string
		`5["x"]`,                   // no attachment count
		`5-["x"]`,                  // empty attachment count
		`5a-["x"]`,                 // not a number
		`51["x"]`,                  // no dash
		`51001-["x"]`,              // too many attachments
		`299999999999999999999[1]`, // id overflows
	} {
		if p, err := DecodePacket([]byte(in)); !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("DecodePacket(%q) = %+v, %v; want ErrInvalidPacket", in, p, err)
		}
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		got  []byte
		want string
	}{
		{Packet{Type: PacketConnect}.Encode(), `0`},
		{Packet{Type: PacketConnect, Namespace: "/", Data: raw(`{"sid":"x"}`)}.Encode(), `0{"sid":"x"}`},
		{Packet{Type: PacketConnect, Namespace: "/admin", Data: raw(`{"sid":"x"}`)}.Encode(), `0/admin,{"sid":"x"}`},
		{Packet{Type: PacketDisconnect, Namespace: "/admin"}.Encode(), `1/admin,`},
		{Packet{Type: PacketConnectError, Data: raw(`{"message":"m"}`)}.Encode(), `4{"message":"m"}`},
		{Packet{Type: PacketBinaryEvent, Namespace: "/admin", Attachments: 2, ID: 3, HasID: true, Data: raw(`["a"]`)}.Encode(), `52-/admin,3["a"]`},
		{Packet{Type: PacketBinaryAck, Attachments: 1, ID: 0, HasID: true, Data: raw(`[]`)}.Encode(), `61-0[]`},
		{EncodeEvent("/", "foo"), `2["foo"]`},
		{EncodeEvent("", "foo", raw(`1`), raw(`{"a":"b"}`)), `2["foo",1,{"a":"b"}]`},
		{EncodeEvent("/admin", "bar", nil), `2/admin,["bar",null]`},
		{EncodeEvent("/", `a"<b`, raw(`"x"`)), `2["a\"\u003cb","x"]`},
		{EncodeAck("/", 12), `312[]`},
		{EncodeAck("/admin", 13, raw(`"bar"`), raw(`2`)), `3/admin,13["bar",2]`},
	}
	for i, tt := range tests {
		if string(tt.got) != tt.want {
			t.Errorf("case %d: got %s, want %s", i, tt.got, tt.want)
		}
		if _, err := DecodePacket(tt.got); err != nil {
			t.Errorf("case %d: %s does not decode: %v", i, tt.got, err)
		}
	}
}

func TestSplitEvent(t *testing.T) {
	ev, err := splitEvent(raw(` [ "ev" , 1 , {"a" : [2]} ] `))
	if err != nil {
		t.Fatal(err)
	}
	if ev.name != "ev" || len(ev.args) != 2 || string(ev.args[0]) != "1" || string(ev.args[1]) != `{"a" : [2]}` {
		t.Fatalf("got %q %q", ev.name, ev.args)
	}
	if ev, err := splitEvent(raw(`[7]`)); err != nil || ev.name != "7" {
		t.Fatalf("numeric name: %v %v", ev, err)
	}
	for _, bad := range []string{``, `{}`, `"x"`, `[]`, `["x"`, `[null]`, `["connect"]`} {
		if _, err := splitEvent(raw(bad)); !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("%q: err %v, want ErrInvalidPacket", bad, err)
		}
	}
}

// FuzzDecodePacket checks that DecodePacket never panics and that what it
// accepts encodes back to a packet that decodes to the same value.
func FuzzDecodePacket(f *testing.F) {
	for _, s := range []string{
		`0`, `0{"token":"1"}`, `0/admin,`, `1`, `1/admin,`, `2["foo"]`, `2/admin,13["foo",{"a":[1,2]}]`,
		`312[]`, `3/admin,13["bar"]`, `4{"message":"x"}`, `51-["baz",{"_placeholder":true,"num":0}]`,
		`52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, `61-15["bar"]`,
		`2[1]`, `1/admin`, `5-[]`, `2["connect"]`, "2[\"\xff\"]", `299999999999999999999[1]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := DecodePacket(in)
		if err != nil {
			return
		}
		enc := p.Encode()
		q, err := DecodePacket(enc)
		if err != nil {
			t.Fatalf("%q decoded to %+v, whose encoding %q does not decode: %v", in, p, enc, err)
		}
		if q.Type != p.Type || q.Namespace != p.Namespace || q.ID != p.ID || q.HasID != p.HasID ||
			q.Attachments != p.Attachments || !bytes.Equal(q.Data, p.Data) {
			t.Fatalf("%q: %+v re-encoded as %q decodes to %+v", in, p, enc, q)
		}
		if p.Type == PacketEvent || p.Type == PacketBinaryEvent {
			ev, err := splitEvent(p.Data)
			if err != nil {
				t.Fatalf("%q: accepted event does not split: %v", in, err)
			}
			_, _ = decodeArgs(ev.args, p.Type.IsBinary(), make([][]byte, p.Attachments))
		}
	})
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }
