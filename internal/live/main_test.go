package live

import (
	"os"
	"testing"
)

// TestMain lets this test binary serve as its own reaper, as the e2e binary
// does (TestReaper* start it).
func TestMain(m *testing.M) {
	if IsReaper() {
		os.Exit(RunReaper())
	}
	os.Exit(m.Run())
}
