package socketio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
)

// placeholder stands for a binary attachment inside a packet's JSON payload;
// Num is the attachment's index among the Engine.IO binary messages that
// follow the packet.
type placeholder struct {
	Placeholder bool `json:"_placeholder"`
	Num         int  `json:"num"`
}

// encodeArgs marshals args to JSON text, replacing every []byte (also inside
// maps, slices, arrays and through pointers) by a placeholder and collecting
// the bytes as attachments, in placeholder order. A json.RawMessage is JSON
// text, not binary. Inside structs, []byte fields keep encoding/json's
// base64 form: walking struct fields would mean redoing encoding/json's tag
// rules, and callers that want attachments can pass maps.
func encodeArgs(args []any) ([]json.RawMessage, [][]byte, error) {
	var w binaryWalker
	out := make([]json.RawMessage, len(args))
	for i, a := range args {
		v, _ := w.walk(a)
		b, err := json.Marshal(v)
		if err != nil {
			return nil, nil, fmt.Errorf("while encoding argument %d: %w", i, err)
		}
		out[i] = b
	}
	return out, w.bufs, nil
}

type binaryWalker struct {
	bufs [][]byte
}

// walk returns v with its []byte values replaced by placeholders, and whether
// it replaced any. When it replaced none it returns v itself, so that the
// common case copies nothing.
func (w *binaryWalker) walk(v any) (any, bool) {
	switch x := v.(type) {
	case nil, string, bool, float64, int, int64, uint64, json.Number, json.RawMessage:
		return v, false
	case []byte:
		w.bufs = append(w.bufs, x)
		return placeholder{Placeholder: true, Num: len(w.bufs) - 1}, true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return v, false
		}
		return w.walk(rv.Elem().Interface())
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 || (rv.Kind() == reflect.Slice && rv.IsNil()) {
			return v, false // a named byte type: keep its JSON encoding
		}
		return w.walkList(rv)
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String || rv.IsNil() {
			return v, false
		}
		return w.walkMap(rv)
	}
	return v, false
}

func (w *binaryWalker) walkList(rv reflect.Value) (any, bool) {
	var out []any // allocated at the first element that held binary
	for i := range rv.Len() {
		e, changed := w.walk(rv.Index(i).Interface())
		if changed && out == nil {
			out = make([]any, rv.Len())
			for j := range i {
				out[j] = rv.Index(j).Interface()
			}
		}
		if out != nil {
			out[i] = e
		}
	}
	if out == nil {
		return rv.Interface(), false
	}
	return out, true
}

func (w *binaryWalker) walkMap(rv reflect.Value) (any, bool) {
	out := make(map[string]any, rv.Len())
	changed := false
	iter := rv.MapRange()
	for iter.Next() {
		e, c := w.walk(iter.Value().Interface())
		changed = changed || c
		out[iter.Key().String()] = e
	}
	if !changed {
		return rv.Interface(), false
	}
	return out, true
}

// decodeArgs turns raw JSON arguments into Go values (numbers as
// json.Number), replacing placeholders by their attachments when the packet
// was a binary one.
func decodeArgs(raw []json.RawMessage, binary bool, bufs [][]byte) ([]any, error) {
	args := make([]any, len(raw))
	for i, r := range raw {
		d := json.NewDecoder(bytes.NewReader(r))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: argument %d: %w", ErrInvalidPacket, i, err)
		}
		if binary {
			var err error
			if v, err = fillPlaceholders(v, bufs); err != nil {
				return nil, err
			}
		}
		args[i] = v
	}
	return args, nil
}

// fillPlaceholders replaces {"_placeholder":true,"num":N} objects by bufs[N].
func fillPlaceholders(v any, bufs [][]byte) (any, error) {
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			f, err := fillPlaceholders(e, bufs)
			if err != nil {
				return nil, err
			}
			x[i] = f
		}
	case map[string]any:
		if ph, _ := x["_placeholder"].(bool); ph {
			return attachment(x["num"], bufs)
		}
		for k, e := range x {
			f, err := fillPlaceholders(e, bufs)
			if err != nil {
				return nil, err
			}
			x[k] = f
		}
	}
	return v, nil
}

func attachment(num any, bufs [][]byte) ([]byte, error) {
	n, ok := num.(json.Number)
	if !ok {
		return nil, fmt.Errorf("%w: placeholder without a number", ErrInvalidPacket)
	}
	i, err := n.Int64()
	if err != nil || i < 0 || i >= int64(len(bufs)) {
		return nil, fmt.Errorf("%w: placeholder %s out of %d attachments", ErrInvalidPacket, n, len(bufs))
	}
	return bufs[i], nil
}
