package config

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSocketIOSettings(t *testing.T) {
	d := Default().SocketIO
	if !d.Enabled || d.Path != "/socket.io/" || !d.Polling() || d.PingInterval.Duration != 25*time.Second ||
		d.PingTimeout.Duration != 20*time.Second || d.MaxHTTPBufferSize != 1_000_000 || !slices.Equal(d.Namespaces, []string{"/"}) {
		t.Fatalf("defaults: %+v", d)
	}
	file := writeFile(t, "socketIO:\n  enabled: false\n")
	cfg, err := Load([]string{"--config", file}, env(), io.Discard)
	if err != nil || cfg.SocketIO.Enabled {
		t.Fatalf("enabled: false in the file: %+v, %v", cfg.SocketIO, err)
	}
	cfg, err = Load(nil, env("SOCKETIO_TRANSPORTS", "websocket", "SOCKETIO_PING_INTERVAL", "5000",
		"SOCKETIO_PING_TIMEOUT", "3s", "SOCKETIO_PATH", "/rt/", "SOCKETIO_MAX_HTTP_BUFFER_SIZE", "65536",
		"SOCKETIO_NAMESPACES", "/, /chat"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.SocketIO
	if s.Polling() || s.PingInterval.Duration != 5*time.Second || s.PingTimeout.Duration != 3*time.Second ||
		s.Path != "/rt/" || s.MaxHTTPBufferSize != 65536 || !slices.Equal(s.Namespaces, []string{"/", "/chat"}) {
		t.Fatalf("from env: %+v", s)
	}
}

func TestSocketIOValidation(t *testing.T) {
	cases := map[string][]string{
		"SOCKETIO_PATH=/ws/":            {"SOCKETIO_PATH", "/ws/"},
		"SOCKETIO_PATH without slashes": {"SOCKETIO_PATH", "io"},
		"SOCKETIO_TRANSPORTS=flash":     {"SOCKETIO_TRANSPORTS", "flash"},
		"SOCKETIO_NAMESPACES=chat":      {"SOCKETIO_NAMESPACES", "chat"},
		"SOCKETIO_NAMESPACES twice":     {"SOCKETIO_NAMESPACES", "/,/a,/a"},
		"SOCKETIO_PING_TIMEOUT=1ms":     {"SOCKETIO_PING_TIMEOUT", "1"},
		"SOCKETIO_MAX_HTTP_BUFFER_SIZE": {"SOCKETIO_MAX_HTTP_BUFFER_SIZE", "10"},
		"SOCKETIO_ENABLED=maybe":        {"SOCKETIO_ENABLED", "maybe"},
		"SOCKETIO_PING_INTERVAL=soon":   {"SOCKETIO_PING_INTERVAL", "soon"},
	}
	for name, kv := range cases {
		_, err := Load(nil, env(kv...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), kv[0]) {
			t.Errorf("%s: want an error naming %s, got %v", name, kv[0], err)
		}
	}
}
