// Package testwait is the tests' one way to wait for a condition: poll it with a deadline,
// never sleep a fixed time and hope.
package testwait

import (
	"testing"
	"time"
)

// Until polls cond every 5 ms until it holds, failing t with "timed out waiting for what"
// once d has passed.
func Until(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
