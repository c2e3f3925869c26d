package recoverytest

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/runtime/recovery"
)

// Factory returns an empty Store.
type Factory func(t *testing.T) recovery.Store

// expiryWait bounds the retries of the expiry case. Both stores check the
// TTL on read, so one probe after the TTL should already miss; retrying
// only keeps a stalled machine from failing the case.
const expiryWait = 5 * time.Second

// Run runs every conformance case.
func Run(t *testing.T, newStore Factory) {
	ctx := context.Background()
	save := func(t *testing.T, s recovery.Store, pid string, rec recovery.Record, ttl time.Duration) {
		t.Helper()
		if err := s.Save(ctx, pid, rec, ttl); err != nil {
			t.Fatal(err)
		}
	}
	take := func(t *testing.T, s recovery.Store, pid string) (recovery.Record, bool) {
		t.Helper()
		rec, ok, err := s.Take(ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		return rec, ok
	}
	takeWant := func(t *testing.T, s recovery.Store, pid string, want recovery.Record) {
		t.Helper()
		if got, ok := take(t, s, pid); !ok || !equal(got, want) {
			t.Fatalf("take %s: %+v %v, want %+v", pid, got, ok, want)
		}
	}
	t.Run("take returns what was saved", func(t *testing.T) {
		s := newStore(t)
		want := recovery.Record{UserID: "u1", Channels: map[string]string{"news:1": "m7", "chat:2": ""},
			Read: map[string]string{"news:1": "m5"}, Last: "m8"}
		save(t, s, "p1", want, time.Hour)
		takeWant(t, s, "p1", want)
	})
	t.Run("a pid is taken at most once", func(t *testing.T) {
		s := newStore(t)
		save(t, s, "p1", recovery.Record{UserID: "u1"}, time.Hour)
		if _, ok := take(t, s, "p1"); !ok {
			t.Fatal("first take missed")
		}
		if rec, ok := take(t, s, "p1"); ok {
			t.Fatalf("second take returned %+v", rec)
		}
	})
	t.Run("an unknown pid is not found", func(t *testing.T) {
		s := newStore(t)
		if rec, ok := take(t, s, "never"); ok {
			t.Fatalf("unknown pid returned %+v", rec)
		}
	})
	t.Run("save replaces", func(t *testing.T) {
		s := newStore(t)
		save(t, s, "p1", recovery.Record{UserID: "u1", Channels: map[string]string{"a:1": "m1"}}, time.Hour)
		want := recovery.Record{UserID: "u2", Channels: map[string]string{"b:1": "m2"}}
		save(t, s, "p1", want, time.Hour)
		takeWant(t, s, "p1", want)
	})
	t.Run("records expire", func(t *testing.T) {
		s := newStore(t)
		const ttl = 50 * time.Millisecond
		// A Take that finds the record also deletes it, so a probe that
		// came too early saves the record again and waits out another TTL.
		for deadline := time.Now().Add(expiryWait); ; {
			save(t, s, "p1", recovery.Record{UserID: "u1"}, ttl)
			time.Sleep(2 * ttl)
			if _, ok := take(t, s, "p1"); !ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("a record with a %v TTL was still there after %v", ttl, 2*ttl)
			}
		}
	})
	t.Run("empty and nil channels round trip as empty", func(t *testing.T) {
		s := newStore(t)
		save(t, s, "empty", recovery.Record{UserID: "u1", Channels: map[string]string{}}, time.Hour)
		save(t, s, "nil", recovery.Record{UserID: "u1"}, time.Hour)
		for _, pid := range []string{"empty", "nil"} {
			got, ok := take(t, s, pid)
			if !ok || got.UserID != "u1" || got.Channels == nil || len(got.Channels) != 0 {
				t.Fatalf("%s: %+v %v, want user u1 and an empty, non-nil map", pid, got, ok)
			}
		}
	})
	t.Run("pids are independent", func(t *testing.T) {
		s := newStore(t)
		a := recovery.Record{UserID: "ua", Channels: map[string]string{"a:1": "m1"}}
		b := recovery.Record{UserID: "ub", Channels: map[string]string{"b:1": "m2"}}
		save(t, s, "pa", a, time.Hour)
		save(t, s, "pb", b, time.Hour)
		takeWant(t, s, "pa", a)
		takeWant(t, s, "pb", b)
	})
	t.Run("the store keeps its own copy", func(t *testing.T) {
		s := newStore(t)
		chans := map[string]string{"a:1": "m1"}
		save(t, s, "p1", recovery.Record{UserID: "u1", Channels: chans}, time.Hour)
		chans["a:1"], chans["b:1"] = "changed", "added"
		takeWant(t, s, "p1", recovery.Record{UserID: "u1", Channels: map[string]string{"a:1": "m1"}})
	})
}

func equal(a, b recovery.Record) bool {
	return a.UserID == b.UserID && maps.Equal(a.Channels, b.Channels) && maps.Equal(a.Read, b.Read) && a.Last == b.Last
}
