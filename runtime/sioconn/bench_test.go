package sioconn

import (
	"encoding/json"
	"testing"

	"github.com/fleetwire/fleetwire/runtime/protocol"
)

// The two codecs side by side: one client frame decoded, and one
// message encoded, as a delivery needs once per message (the hub shares
// the bytes between connections of one codec).
var benchMessage = json.RawMessage(`{"id":"01a2146a2085-ebb4ba214d73-2","type":"notification","payload":{"title":"Analysis Complete"},"priority":"high","timestamp":"2026-11-25T20:33:49.189Z","channel":"analysis:123"}`)

func BenchmarkDecode(b *testing.B) {
	for _, tc := range []struct {
		name  string
		codec protocol.Codec
		frame []byte
	}{
		{"native", protocol.JSON{}, []byte(`{"event":"subscribe","id":12,"data":{"channels":["analysis:123","document:456"]}}`)},
		{"socket.io", Codec{}, []byte(`212["subscribe",{"channels":["analysis:123","document:456"]}]`)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.codec.Decode(tc.frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodeMessage(b *testing.B) {
	for _, tc := range []struct {
		name  string
		codec protocol.Codec
	}{{"native", protocol.JSON{}}, {"socket.io", Codec{}}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if me, ok := tc.codec.(protocol.MessageEncoder); ok {
					_, err = me.EncodeMessage("notification", "01a2146a2085-ebb4ba214d73-2", benchMessage)
				} else {
					_, err = tc.codec.EncodeEvent("notification", benchMessage)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
