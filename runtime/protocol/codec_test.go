package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestJSONDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Frame
		wantErr Code
		// wantMsg is what the error message must say.
		wantMsg string
	}{
		{name: "event only", in: `{"event":"ping"}`, want: Frame{Event: "ping"}},
		{name: "with id and data", in: `{"event":"subscribe","id":7,"data":{"channels":["a"]}}`,
			want: Frame{Event: "subscribe", ID: 7, HasID: true, Data: json.RawMessage(`{"channels":["a"]}`)}},
		{name: "null data is no data", in: `{"event":"ping","data":null}`, want: Frame{Event: "ping"}},
		{name: "id zero is an id", in: `{"event":"ping","id":0}`, want: Frame{Event: "ping", HasID: true}},
		{name: "not json", in: `hello`, wantErr: CodeBadFrame},
		{name: "array", in: `["ping"]`, wantErr: CodeBadFrame, wantMsg: "not a JSON object: it is an array"},
		{name: "array of numbers", in: `[1,2]`, wantErr: CodeBadFrame, wantMsg: "not a JSON object: it is an array"},
		{name: "string", in: `"ping"`, wantErr: CodeBadFrame, wantMsg: "it is a string"},
		{name: "missing event", in: `{"data":1}`, wantErr: CodeBadFrame, wantMsg: `needs an "event" string`},
		{name: "empty event", in: `{"event":""}`, wantErr: CodeBadFrame, wantMsg: `"event" must not be empty`},
		{name: "event not string", in: `{"event":5}`, wantErr: CodeBadFrame, wantMsg: `"event" must be a string, not a number`},
		{name: "id is a string", in: `{"event":"ping","id":"x"}`, wantErr: CodeBadFrame, wantMsg: `"id" must be an integer between 0 and 9007199254740991, not a string`},
		{name: "id is an object", in: `{"event":"ping","id":{}}`, wantErr: CodeBadFrame, wantMsg: "not an object"},
		{name: "null id is no id", in: `{"event":"ping","id":null}`, want: Frame{Event: "ping"}},
		{name: "negative id", in: `{"event":"ping","id":-1}`, wantErr: CodeBadFrame},
		{name: "fractional id", in: `{"event":"ping","id":1.5}`, wantErr: CodeBadFrame},
		{name: "id above 2^53", in: `{"event":"ping","id":9007199254740993}`, wantErr: CodeBadFrame},
		{name: "trailing data", in: `{"event":"ping"}{"event":"ping"}`, wantErr: CodeBadFrame},
		{name: "long event", in: `{"event":"` + string(make([]byte, 65)) + `"}`, wantErr: CodeBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JSON{}.Decode([]byte(tt.in))
			if tt.wantErr != "" {
				var pe *Error
				if !errors.As(err, &pe) || pe.Code != tt.wantErr {
					t.Fatalf("Decode(%q) error = %v, want code %s", tt.in, err, tt.wantErr)
				}
				if !strings.Contains(pe.Message, tt.wantMsg) {
					t.Fatalf("Decode(%q) says %q; it should say %q", tt.in, pe.Message, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode(%q): %v", tt.in, err)
			}
			if got.Event != tt.want.Event || got.ID != tt.want.ID || got.HasID != tt.want.HasID || string(got.Data) != string(tt.want.Data) {
				t.Fatalf("Decode(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestJSONEncodeRoundTrip(t *testing.T) {
	c := JSON{}
	b, err := c.EncodeEvent("notification", json.RawMessage(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"event":"notification","data":{"a":1}}` {
		t.Fatalf("EncodeEvent = %s", b)
	}
	b, _ = c.EncodeAck(9, nil)
	if string(b) != `{"event":"ack","id":9,"data":null}` {
		t.Fatalf("EncodeAck = %s", b)
	}
	b, _ = c.EncodeError(3, true, Errorf(CodeRateLimited, "slow down"))
	var got struct {
		Event string `json:"event"`
		ID    uint64 `json:"id"`
		Data  Error  `json:"data"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Event != "error" || got.ID != 3 || got.Data.Code != CodeRateLimited {
		t.Fatalf("EncodeError = %s", b)
	}
}

// FuzzJSONDecode checks that the decoder never panics, and that whatever it
// accepts re-encodes to a frame it decodes the same way. Its seed corpus
// (the f.Add calls and testdata/fuzz) runs as part of every `go test`.
func FuzzJSONDecode(f *testing.F) {
	for _, s := range []string{
		`{"event":"ping"}`,
		`{"event":"subscribe","id":1,"data":{"channels":["analysis:1","team:x"]}}`,
		`{"event":"unsubscribe","data":{"channels":[]}}`,
		`{"event":"x","id":9007199254740991}`,
		`{"event":"\u0000"}`,
		`{"event":"a","data":[1,2,{"b":null}]}`,
		`{`, `null`, `[]`, `""`, `{"event":null}`, `{"event":"a","id":"1"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		c := JSON{}
		fr, err := c.Decode(p)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != CodeBadFrame {
				t.Fatalf("Decode error is not a bad_frame *Error: %v", err)
			}
			return
		}
		if fr.Event == "" {
			t.Fatal("accepted a frame without an event")
		}
		enc, err := c.EncodeEvent(fr.Event, fr.Data)
		if err != nil {
			t.Fatalf("EncodeEvent: %v", err)
		}
		again, err := c.Decode(enc)
		if err != nil {
			t.Fatalf("re-decoding %q: %v", enc, err)
		}
		if again.Event != fr.Event {
			t.Fatalf("event changed on round trip: %q -> %q", fr.Event, again.Event)
		}
	})
}

func BenchmarkJSONDecode(b *testing.B) {
	p := []byte(`{"event":"subscribe","id":12,"data":{"channels":["analysis:123","document:456"]}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (JSON{}).Decode(p); err != nil {
			b.Fatal(err)
		}
	}
}
