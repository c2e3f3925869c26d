package recovery

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestMemorySweepsExpiredRecords(t *testing.T) {
	m := NewMemory()
	ctx := context.Background()
	for i := range 10 * minSweep {
		// A ttl of zero is already expired, like a record whose client
		// never came back.
		_ = m.Save(ctx, fmt.Sprintf("p%d", i), Record{UserID: "u"}, 0)
	}
	if n := len(m.entries); n >= minSweep {
		t.Fatalf("%d expired records kept, want fewer than %d", n, minSweep)
	}
	_ = m.Save(ctx, "live", Record{UserID: "u"}, time.Hour)
	if _, ok, _ := m.Take(ctx, "live"); !ok {
		t.Fatal("a live record was swept")
	}
}
