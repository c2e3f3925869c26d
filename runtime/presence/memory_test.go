package presence_test

import (
	"testing"

	"github.com/fleetwire/fleetwire/runtime/presence"
	"github.com/fleetwire/fleetwire/runtime/presence/presencetest"
)

func TestMemoryConformance(t *testing.T) {
	presencetest.Run(t, func(*testing.T) presence.Presence { return presence.NewMemory() })
}
