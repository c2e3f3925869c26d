package history_test

import (
	"testing"

	"github.com/fleetwire/fleetwire/runtime/history"
	"github.com/fleetwire/fleetwire/runtime/history/historytest"
)

func TestMemoryConformance(t *testing.T) {
	historytest.Run(t, func(*testing.T) history.Store { return history.NewMemory() })
}
