package serversub_test

import (
	"testing"

	"github.com/fleetwire/fleetwire/runtime/serversub"
	"github.com/fleetwire/fleetwire/runtime/serversub/serversubtest"
)

func TestMemoryConformance(t *testing.T) {
	serversubtest.Run(t, func(*testing.T) serversub.Store { return serversub.NewMemory() })
}
