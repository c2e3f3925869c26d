package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Frame is one decoded client frame: an event name, its raw data and an
// optional request id. A frame with an ID gets exactly one reply: an ack or
// an error carrying the same ID.
type Frame struct {
	Event string
	Data  json.RawMessage
	ID    uint64
	HasID bool
}

// Codec turns frames into bytes and back. The native JSON codec is the
// default; other wire protocols (Socket.IO) implement the same interface so
// the session logic never sees the difference.
type Codec interface {
	// Name identifies the codec in logs and metrics.
	Name() string
	// Decode parses one client frame. It returns a *Error with CodeBadFrame
	// when the bytes are not a valid frame.
	Decode(p []byte) (Frame, error)
	// EncodeEvent encodes a server event whose data is already JSON.
	EncodeEvent(event string, data json.RawMessage) ([]byte, error)
	// EncodeAck encodes the successful reply to the frame with the given id.
	EncodeAck(id uint64, data json.RawMessage) ([]byte, error)
	// EncodeError encodes an error; hasID says whether it answers a frame.
	EncodeError(id uint64, hasID bool, e *Error) ([]byte, error)
}

// MessageEncoder is implemented by codecs that frame application messages
// (as opposed to protocol events) differently: the Socket.IO codec appends
// the message id, the offset of Socket.IO's connection state recovery.
// Other codecs encode messages with EncodeEvent.
type MessageEncoder interface {
	EncodeMessage(event, id string, data json.RawMessage) ([]byte, error)
}

// MaxEventLen bounds event names so a hostile client cannot make the
// server log or compare arbitrarily long strings.
const MaxEventLen = 64

// JSON is the native codec: every frame is a JSON text message
// {"event": string, "data": any, "id"?: number}.
type JSON struct{}

var _ Codec = JSON{}

// Name implements Codec.
func (JSON) Name() string { return "native" }

type wireFrame struct {
	Event json.RawMessage `json:"event"`
	Data  json.RawMessage `json:"data,omitempty"`
	ID    json.RawMessage `json:"id,omitempty"`
}

// Decode implements Codec. Every refusal says what is wrong with the
// frame, without echoing it.
func (JSON) Decode(p []byte) (Frame, error) {
	var w wireFrame
	// json.Unmarshal also refuses data after the object.
	if err := json.Unmarshal(p, &w); err != nil {
		return Frame{}, Errorf(CodeBadFrame, "frame is not a JSON object: %s", jsonErrorText(err))
	}
	var event string
	if len(w.Event) == 0 || json.Unmarshal(w.Event, &event) != nil {
		if len(w.Event) == 0 {
			return Frame{}, Errorf(CodeBadFrame, `frame needs an "event" string, e.g. {"event": "ping"}`)
		}
		return Frame{}, Errorf(CodeBadFrame, `"event" must be a string, not %s`, jsonType(w.Event))
	}
	if event == "" {
		return Frame{}, Errorf(CodeBadFrame, `"event" must not be empty`)
	}
	if len(event) > MaxEventLen {
		return Frame{}, Errorf(CodeBadFrame, "event name is longer than %d bytes", MaxEventLen)
	}
	f := Frame{Event: event, Data: w.Data}
	if len(w.ID) > 0 && !bytes.Equal(w.ID, []byte("null")) {
		id, err := parseID(w.ID)
		if err != nil {
			return Frame{}, err
		}
		f.ID, f.HasID = id, true
	}
	if bytes.Equal(f.Data, []byte("null")) {
		f.Data = nil
	}
	return f, nil
}

// MaxSafeID keeps ids exact in JavaScript numbers (2^53-1).
const MaxSafeID = 1<<53 - 1

func parseID(raw json.RawMessage) (uint64, error) {
	if t := jsonType(raw); t != "a number" {
		return 0, Errorf(CodeBadFrame, `"id" must be an integer between 0 and %d, not %s`, int64(MaxSafeID), t)
	}
	v, err := json.Number(raw).Int64()
	if err != nil || v < 0 || v > MaxSafeID {
		return 0, Errorf(CodeBadFrame, `"id" must be an integer between 0 and %d`, int64(MaxSafeID))
	}
	return uint64(v), nil
}

// jsonType names the kind of a valid JSON value, for error messages.
func jsonType(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// jsonErrorText keeps decoder errors short and free of echoed input.
func jsonErrorText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field == "" {
		return "it is " + jsonValueName(te.Value)
	}
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	}
	return "invalid JSON"
}

// jsonValueName names the Value of a json.UnmarshalTypeError.
func jsonValueName(v string) string {
	switch v {
	case "array", "object":
		return "an " + v
	case "bool":
		return "a boolean"
	case "null":
		return "null"
	}
	if v == "" {
		return "not an object"
	}
	return "a " + v
}

// EncodeEvent implements Codec.
func (JSON) EncodeEvent(event string, data json.RawMessage) ([]byte, error) {
	ev, err := json.Marshal(event)
	if err != nil {
		return nil, fmt.Errorf("while encoding event name: %w", err)
	}
	b := make([]byte, 0, len(ev)+len(data)+20)
	b = append(b, `{"event":`...)
	b = append(b, ev...)
	if len(data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, data...)
	}
	return append(b, '}'), nil
}

// EncodeAck implements Codec.
func (JSON) EncodeAck(id uint64, data json.RawMessage) ([]byte, error) {
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	b := make([]byte, 0, len(data)+40)
	b = append(b, `{"event":"ack","id":`...)
	b = fmt.Appendf(b, "%d", id)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, '}'), nil
}

// EncodeError implements Codec.
func (JSON) EncodeError(id uint64, hasID bool, e *Error) ([]byte, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("while encoding error: %w", err)
	}
	b := make([]byte, 0, len(data)+40)
	b = append(b, `{"event":"error"`...)
	if hasID {
		b = fmt.Appendf(b, `,"id":%d`, id)
	}
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, '}'), nil
}
