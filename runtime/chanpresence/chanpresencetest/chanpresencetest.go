// Package chanpresencetest is the conformance suite every
// chanpresence.Store implementation must pass.
package chanpresencetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/fleetwire/fleetwire/runtime/chanpresence"
)

// Factory returns an empty Store.
type Factory func(t *testing.T) chanpresence.Store

// Run runs every conformance case.
func Run(t *testing.T, newStore Factory) {
	ctx := context.Background()
	join := func(t *testing.T, s chanpresence.Store, ch, user, conn, info string, wantFirst bool) {
		t.Helper()
		c := chanpresence.Conn{Channel: ch, UserID: user, ConnID: conn}
		if info != "" {
			c.Info = json.RawMessage(info)
		}
		first, err := s.Join(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if first != wantFirst {
			t.Fatalf("Join(%s, %s, %s) first = %v, want %v", ch, user, conn, first, wantFirst)
		}
	}
	leave := func(t *testing.T, s chanpresence.Store, ch, user, conn string, wantLast bool) {
		t.Helper()
		last, err := s.Leave(ctx, ch, user, conn)
		if err != nil {
			t.Fatal(err)
		}
		if last != wantLast {
			t.Fatalf("Leave(%s, %s, %s) last = %v, want %v", ch, user, conn, last, wantLast)
		}
	}
	stats := func(t *testing.T, s chanpresence.Store, ch string, users, conns int) {
		t.Helper()
		st, err := s.Stats(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		if st.Users != users || st.Connections != conns {
			t.Fatalf("Stats(%s) = %+v, want %d users, %d connections", ch, st, users, conns)
		}
	}
	t.Run("first and last are counted by user, not by connection", func(t *testing.T) {
		s := newStore(t)
		join(t, s, "doc:1", "alice", "tab1", "", true)
		join(t, s, "doc:1", "alice", "tab2", "", false)
		join(t, s, "doc:1", "alice", "tab2", "", false) // again: nothing new
		join(t, s, "doc:1", "bob", "b1", "", true)
		join(t, s, "doc:2", "alice", "tab1", "", true) // another channel
		stats(t, s, "doc:1", 2, 3)
		leave(t, s, "doc:1", "alice", "tab1", false)
		leave(t, s, "doc:1", "alice", "tab1", false) // already gone
		leave(t, s, "doc:1", "alice", "tab2", true)
		leave(t, s, "doc:1", "nobody", "x", false)
		stats(t, s, "doc:1", 1, 1)
		stats(t, s, "doc:2", 1, 1)
		stats(t, s, "empty:1", 0, 0)
	})
	t.Run("members are sorted, counted, carry their info, and page", func(t *testing.T) {
		s := newStore(t)
		join(t, s, "doc:1", "carol", "c1", `{"name":"Carol"}`, true)
		join(t, s, "doc:1", "alice", "a1", "", true)
		join(t, s, "doc:1", "alice", "a2", "", false)
		join(t, s, "doc:1", "bob", "b1", "", true)
		page, more, err := s.Members(ctx, "doc:1", "", 2)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(names(page)); got != "[alice:2 bob:1]" || !more {
			t.Fatalf("first page %s more=%v", got, more)
		}
		page, more, err = s.Members(ctx, "doc:1", "bob", 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != 1 || page[0].UserID != "carol" || string(page[0].Info) != `{"name":"Carol"}` || more {
			t.Fatalf("second page %+v more=%v", page, more)
		}
		page, more, err = s.Members(ctx, "nothing:1", "", 10)
		if err != nil || len(page) != 0 || more {
			t.Fatalf("an empty channel: %+v %v %v", page, more, err)
		}
	})
}

func names(ms []chanpresence.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s:%d", m.UserID, m.Connections))
	}
	return out
}
