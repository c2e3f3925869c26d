package socketio

import "testing"

// BenchmarkEventDecode is what the dispatch of one client EVENT costs
// before its handlers run: the packet decoded and checked, its payload
// split, its arguments decoded.
func BenchmarkEventDecode(b *testing.B) {
	frame := []byte(`212["publish",{"channel":"analysis:123","data":{"title":"Analysis Complete","progress":100,"tags":["a","b"]}}]`)
	b.ReportAllocs()
	for b.Loop() {
		p, ev, err := decodePacket(frame)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decodeArgs(ev.args, p.Type.IsBinary(), nil); err != nil {
			b.Fatal(err)
		}
	}
}
