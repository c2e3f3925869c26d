package redisbroker

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine they started is
// still running once they are done. go-redis probes a server it failed to
// dial from a goroutine of its own (tryDial), which sees the client
// closed only after its next second of sleep: the tests that stop Redis
// leave one behind for up to a second, and it is not the broker's.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}
