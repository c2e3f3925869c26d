package fleet_test

import (
	"testing"

	"github.com/fleetwire/fleetwire/runtime/fleet"
	"github.com/fleetwire/fleetwire/runtime/fleet/fleettest"
)

func TestMemoryConformance(t *testing.T) {
	fleettest.Run(t, func(*testing.T) fleet.Registry { return fleet.NewMemory() })
}
