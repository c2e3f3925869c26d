package chanpresence_test

import (
	"testing"

	"github.com/fleetwire/fleetwire/runtime/chanpresence"
	"github.com/fleetwire/fleetwire/runtime/chanpresence/chanpresencetest"
)

func TestMemoryConformance(t *testing.T) {
	chanpresencetest.Run(t, func(*testing.T) chanpresence.Store { return chanpresence.NewMemory() })
}
