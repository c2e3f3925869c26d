package auth_test

import (
	"testing"

	"github.com/fleetwire/fleetwire/runtime/auth"
	"github.com/fleetwire/fleetwire/runtime/auth/denylisttest"
)

func TestMemoryDenylistConformance(t *testing.T) {
	denylisttest.Run(t, func(*testing.T) auth.Denylist { return auth.NewMemoryDenylist() })
}
