package ratelimit

import (
	"testing"
	"time"
)

func TestTierOverrides(t *testing.T) {
	ten, fifty := 10, 50
	big := Rule{Limit: 600, Window: time.Minute}
	p := &Policy{
		Messages:           Rule{Limit: 60, Window: time.Minute},
		Events:             map[string]Rule{"subscribe": {Limit: 10, Window: time.Minute}},
		ConnectionsPerUser: ten,
		HTTPPerCaller:      Rule{Limit: 100, Window: time.Minute},
		Tiers: map[string]Tier{"premium": {
			Messages:           &big,
			Events:             map[string]Rule{"subscribe": {Limit: 50, Window: time.Minute}},
			ConnectionsPerUser: &fifty,
		}},
	}
	if r := p.MessagesFor("premium"); r != big {
		t.Errorf("premium messages %v", r)
	}
	if r := p.MessagesFor(""); r.Limit != 60 {
		t.Errorf("default messages %v", r)
	}
	if r, ok := p.EventFor("premium", "subscribe"); !ok || r.Limit != 50 {
		t.Errorf("premium subscribe %v %v", r, ok)
	}
	if r, ok := p.EventFor("gold", "subscribe"); !ok || r.Limit != 10 {
		t.Errorf("unknown tier falls back: %v %v", r, ok)
	}
	if _, ok := p.EventFor("", "ping"); ok {
		t.Error("ping has no event rule")
	}
	if p.ConnectionsPerUserFor("premium") != 50 || p.ConnectionsPerUserFor("") != 10 {
		t.Error("connection caps")
	}
	if p.HTTPFor("premium").Limit != 100 {
		t.Error("premium keeps the default HTTP rule when it sets none")
	}
}
