package testwait

import (
	"testing"
	"time"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	Until(t, time.Second, "the third look", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Errorf("looked %d times, want 3", n)
	}
}

// fakeTB records Fatalf and stops the polling goroutine as testing.T does.
type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = format
	panic(f)
}

func TestUntilFailsAtTheDeadline(t *testing.T) {
	f := &fakeTB{}
	func() {
		defer func() {
			if p := recover(); p != f {
				t.Fatalf("Until did not fail: %v", p)
			}
		}()
		Until(f, 20*time.Millisecond, "never", func() bool { return false })
	}()
	if f.msg == "" {
		t.Error("no failure message")
	}
}
