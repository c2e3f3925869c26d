package recovery_test

import (
	"testing"

	"github.com/fleetwire/fleetwire/runtime/recovery"
	"github.com/fleetwire/fleetwire/runtime/recovery/recoverytest"
)

func TestMemoryConformance(t *testing.T) {
	recoverytest.Run(t, func(*testing.T) recovery.Store { return recovery.NewMemory() })
}
