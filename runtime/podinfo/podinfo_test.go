package podinfo

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/fleetwire/fleetwire/runtime/hub"
)

func TestParseAnnotations(t *testing.T) {
	// As the kubelet writes a downward API annotations file.
	in := "controller.kubernetes.io/pod-deletion-cost=\"25\"\n" +
		"kubernetes.io/config.seen=\"2026-12-01T10:00:00.000000000Z\"\n" +
		RebalanceAnnotation + "=" + strconv.Quote(`{"target":12,"perSecond":5,"until":"2026-12-01T10:02:00Z"}`) + "\n"
	got, err := ParseAnnotations([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got["controller.kubernetes.io/pod-deletion-cost"] != "25" ||
		got[RebalanceAnnotation] != `{"target":12,"perSecond":5,"until":"2026-12-01T10:02:00Z"}` {
		t.Errorf("parsed %q", got)
	}
	for _, bad := range []string{"no-equals-sign\n", "key=unquoted\n"} {
		if _, err := ParseAnnotations([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

type recorder struct {
	mu     sync.Mutex
	orders []hub.RebalanceOrder
	stops  int
}

func (r *recorder) Rebalance(o hub.RebalanceOrder) error {
	if err := o.Validate(time.Now()); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.orders = append(r.orders, o)
	return nil
}

func (r *recorder) StopRebalance() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stops++
}

func (r *recorder) state() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.orders), r.stops
}

// TestFollowOrders writes the annotations file as the kubelet would, and
// checks that each new order is handed on once, that a bad one changes
// nothing, and that a removed annotation withdraws the order.
func TestFollowOrders(t *testing.T) {
	file := filepath.Join(t.TempDir(), "annotations")
	write := func(order string) {
		t.Helper()
		content := "a=\"b\"\n"
		if order != "" {
			content += RebalanceAnnotation + "=" + strconv.Quote(order) + "\n"
		}
		// The kubelet swaps the file in whole, as rename does.
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { FollowOrders(ctx, file, 5*time.Millisecond, r, logr.Discard()); close(done) }()
	defer func() { cancel(); <-done }()
	waitState := func(what string, orders, stops int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			o, s := r.state()
			if o == orders && s == stops {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d orders and %d stops, want %d and %d", what, o, s, orders, stops)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	time.Sleep(20 * time.Millisecond) // no file yet: nothing happens
	waitState("no file", 0, 0)
	until := time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	write(`{"target":12,"perSecond":5,"until":"` + until + `"}`)
	waitState("an order", 1, 0)
	time.Sleep(30 * time.Millisecond) // the same order, read again
	waitState("the same order", 1, 0)
	write(`{"target":"many"}`)
	time.Sleep(30 * time.Millisecond)
	waitState("a bad order", 1, 0)
	write(`{"target":12,"perSecond":500,"until":"` + until + `"}`)
	time.Sleep(30 * time.Millisecond)
	waitState("an order past the rate cap", 1, 0)
	write(`{"target":8,"perSecond":5,"until":"` + until + `"}`)
	waitState("a new order", 2, 0)
	if o := r.orders[1]; o.Target != 8 {
		t.Errorf("second order %+v", o)
	}
	// A field a newer operator added is ignored.
	write(`{"target":7,"perSecond":5,"until":"` + until + `","pods":3,"total":30,"fromTheFuture":true}`)
	waitState("an order with a field this node does not know", 3, 0)
	if o := r.orders[2]; o.Target != 7 {
		t.Errorf("third order %+v", o)
	}
	write("")
	waitState("the annotation removed", 3, 1)
}
