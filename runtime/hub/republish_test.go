package hub

import (
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/message"
)

// recentPublications keeps at most maxRecent, forgets the oldest first,
// and answers what came before a time within republishWindow.
func TestRecentPublicationsAreBounded(t *testing.T) {
	var r recentPublications
	for i := range maxRecent + 10 {
		r.note("news:1", &message.Message{ID: string(rune('a' + i%26))})
	}
	if n := len(r.pubs) - r.head; n != maxRecent {
		t.Fatalf("%d remembered, want %d", n, maxRecent)
	}
	if got := r.before(time.Now()); len(got) != maxRecent {
		t.Fatalf("before now: %d, want %d", len(got), maxRecent)
	}
	if got := r.before(time.Now().Add(-2 * republishWindow)); len(got) != 0 {
		t.Fatalf("before two windows ago: %d, want none", len(got))
	}
	if got := r.before(time.Now().Add(republishWindow + time.Second)); len(got) != 0 {
		t.Fatalf("before a time more than a window after them: %d, want none", len(got))
	}
}
