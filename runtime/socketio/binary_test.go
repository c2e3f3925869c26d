package socketio

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestEncodeArgs(t *testing.T) {
	type blob []byte
	type withBytes struct {
		B []byte `json:"b"`
	}
	ptr := []byte{9}
	tests := []struct {
		name string
		args []any
		json []string
		bufs [][]byte
	}{
		{"plain", []any{"a", 1, true, nil, map[string]int{"x": 1}}, []string{`"a"`, `1`, `true`, `null`, `{"x":1}`}, nil},
		{"raw message is JSON", []any{json.RawMessage(`{"a":1}`)}, []string{`{"a":1}`}, nil},
		{"top-level bytes", []any{"a", []byte{1, 2}, []byte{3}}, []string{`"a"`, `{"_placeholder":true,"num":0}`, `{"_placeholder":true,"num":1}`}, [][]byte{{1, 2}, {3}}},
		{"nested in map and slice", []any{map[string]any{"k": []any{1, []byte{5}}}}, []string{`{"k":[1,{"_placeholder":true,"num":0}]}`}, [][]byte{{5}}},
		{"typed containers", []any{map[string][][]byte{"k": {{1}}}, [2][]byte{{2}, {3}}}, []string{`{"k":[{"_placeholder":true,"num":0}]}`, `[{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]`}, [][]byte{{1}, {2}, {3}}},
		{"pointer", []any{&ptr}, []string{`{"_placeholder":true,"num":0}`}, [][]byte{{9}}},
		{"named byte slice and struct field stay base64", []any{blob{1}, withBytes{B: []byte{1}}}, []string{`"AQ=="`, `{"b":"AQ=="}`}, nil},
		{"empty bytes", []any{[]byte{}}, []string{`{"_placeholder":true,"num":0}`}, [][]byte{{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, bufs, err := encodeArgs(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.json) {
				t.Fatalf("got %d args, want %d", len(got), len(tt.json))
			}
			for i := range got {
				if string(got[i]) != tt.json[i] {
					t.Errorf("arg %d = %s, want %s", i, got[i], tt.json[i])
				}
			}
			if !reflect.DeepEqual(bufs, tt.bufs) {
				t.Errorf("bufs = %v, want %v", bufs, tt.bufs)
			}
		})
	}
	if _, _, err := encodeArgs([]any{make(chan int)}); err == nil {
		t.Error("a channel argument encoded without error")
	}
}

func TestDecodeArgs(t *testing.T) {
	raws := []json.RawMessage{raw(`"a"`), raw(`1.5`), raw(`{"_placeholder":true,"num":1}`), raw(`{"k":[{"_placeholder":true,"num":0}]}`)}
	got, err := decodeArgs(raws, true, [][]byte{{1}, {2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"a", json.Number("1.5"), []byte{2, 3}, map[string]any{"k": []any{[]byte{1}}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	// Outside binary packets a placeholder-shaped object is plain data.
	got, err = decodeArgs(raws[2:3], false, nil)
	if err != nil || !reflect.DeepEqual(got, []any{map[string]any{"_placeholder": true, "num": json.Number("1")}}) {
		t.Fatalf("non-binary: %#v, %v", got, err)
	}
	for _, bad := range []string{`{"_placeholder":true,"num":2}`, `{"_placeholder":true,"num":-1}`, `{"_placeholder":true}`, `[{"_placeholder":true,"num":"0"}]`} {
		if _, err := decodeArgs([]json.RawMessage{raw(bad)}, true, [][]byte{{1}, {2}}); err == nil {
			t.Errorf("%s decoded without error", bad)
		}
	}
}

func TestArgsRoundTrip(t *testing.T) {
	in := []any{"x", []byte("bin"), map[string]any{"n": 2, "b": []byte{0, 255}}}
	raws, bufs, err := encodeArgs(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeArgs(raws, true, bufs)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"x", []byte("bin"), map[string]any{"n": json.Number("2"), "b": []byte{0, 255}}}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("got %#v, want %#v", out, want)
	}
}
