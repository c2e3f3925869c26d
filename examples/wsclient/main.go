// Command wsclient connects to a Fleetwire runtime, optionally subscribes
// to channels, and prints every frame it receives. It is the client of the
// README's walkthrough.
//
//	go run ./examples/wsclient --token "$TOKEN" [--url ws://localhost:8080/ws] [--subscribe analysis:123,team:red]
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"

	"github.com/gorilla/websocket"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "wsclient:", err)
		os.Exit(1)
	}
}

func run() error {
	url := flag.String("url", "ws://localhost:8080/ws", "runtime WebSocket URL")
	token := flag.String("token", os.Getenv("TOKEN"), "JWT (default $TOKEN)")
	subscribe := flag.String("subscribe", "", "comma-separated channels to subscribe to")
	flag.Parse()
	if *token == "" {
		return errors.New("--token (or $TOKEN) is required; get one with: go run ./cmd/runtime token --user alice")
	}
	ws, resp, err := websocket.DefaultDialer.Dial(*url, http.Header{"Authorization": {"Bearer " + *token}})
	if err != nil {
		if resp != nil {
			var body struct {
				Error struct{ Code, Message string }
			}
			_ = json.NewDecoder(resp.Body).Decode(&body)
			return fmt.Errorf("connect refused: HTTP %d %s: %s", resp.StatusCode, body.Error.Code, body.Error.Message)
		}
		return fmt.Errorf("connect: %w", err)
	}
	defer ws.Close()
	if *subscribe != "" {
		frame := map[string]any{"event": "subscribe", "id": 1, "data": map[string]any{"channels": strings.Split(*subscribe, ",")}}
		if err := ws.WriteJSON(frame); err != nil {
			return err
		}
	}
	interrupt := make(chan os.Signal, 1)
	signal.Notify(interrupt, os.Interrupt)
	go func() {
		<-interrupt
		_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	}()
	for {
		_, p, err := ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				fmt.Printf("closed: %d %s\n", ce.Code, ce.Text)
				return nil
			}
			return err
		}
		fmt.Println(string(p))
	}
}
