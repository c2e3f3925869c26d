package engineio

import (
	"bytes"
	"testing"
)

func TestDecodePacket(t *testing.T) {
	tests := []struct {
		in      string
		typ     packetType
		data    string
		wantErr bool
	}{
		{in: "0{}", typ: packetOpen, data: "{}"},
		{in: "1", typ: packetClose},
		{in: "2probe", typ: packetPing, data: "probe"},
		{in: "3", typ: packetPong},
		{in: "4hello é", typ: packetMessage, data: "hello é"},
		{in: "5", typ: packetUpgrade},
		{in: "6", typ: packetNoop},
		{in: "", wantErr: true},
		{in: "7", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "bAQID", wantErr: true}, // base64 only in polling payloads
	}
	for _, tt := range tests {
		p, err := decodePacket([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("decodePacket(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && (p.typ != tt.typ || string(p.data) != tt.data || p.binary) {
			t.Errorf("decodePacket(%q) = %+v", tt.in, p)
		}
	}
}

func TestDecodePayload(t *testing.T) {
	got, err := decodePayload([]byte("4hello\x1ebAQIDBA==\x1e3\x1e4"))
	if err != nil {
		t.Fatal(err)
	}
	want := []packet{
		{typ: packetMessage, data: []byte("hello")},
		{typ: packetMessage, data: []byte{1, 2, 3, 4}, binary: true},
		{typ: packetPong, data: []byte{}},
		{typ: packetMessage, data: []byte{}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d packets, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].typ != want[i].typ || got[i].binary != want[i].binary || !bytes.Equal(got[i].data, want[i].data) {
			t.Errorf("packet %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"", "abc", "4a\x1e", "\x1e4a", "b!!!", "4ok\x1e9"} {
		if _, err := decodePayload([]byte(bad)); err == nil {
			t.Errorf("decodePayload(%q) succeeded, want error", bad)
		}
	}
}

func TestAppendPolling(t *testing.T) {
	var b []byte
	b = appendPolling(b, packetMessage, []byte("hi"), false)
	b = append(b, recordSeparator)
	b = appendPolling(b, packetMessage, []byte{1, 2, 3, 4}, true)
	if string(b) != "4hi\x1ebAQIDBA==" {
		t.Fatalf("got %q", b)
	}
}

func FuzzDecodePacket(f *testing.F) {
	for _, s := range []string{"0{}", "1", "2probe", "3", "4hello", "5", "6", "", "7x", "b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := decodePacket(in)
		if err != nil {
			return
		}
		// A decoded packet re-encodes to its input.
		if out := appendPolling(nil, p.typ, p.data, false); !bytes.Equal(out, in) {
			t.Fatalf("round trip %q -> %q", in, out)
		}
	})
}

func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{"4hello", "4a\x1e4b\x1e4c", "4hello\x1ebAQIDBA==", "3\x1e1", "b", "bAA", "\x1e", "abc"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		packets, err := decodePayload(in)
		if err != nil {
			return
		}
		// Re-encoding and decoding again gives the same packets.
		var out []byte
		for i, p := range packets {
			if i > 0 {
				out = append(out, recordSeparator)
			}
			out = appendPolling(out, p.typ, p.data, p.binary)
		}
		again, err := decodePayload(out)
		if err != nil || len(again) != len(packets) {
			t.Fatalf("re-decode %q: %v", out, err)
		}
		for i := range packets {
			if again[i].typ != packets[i].typ || again[i].binary != packets[i].binary || !bytes.Equal(again[i].data, packets[i].data) {
				t.Fatalf("packet %d differs: %+v vs %+v", i, again[i], packets[i])
			}
		}
	})
}
