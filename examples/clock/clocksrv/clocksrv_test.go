package clocksrv_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgeapi/gateway/examples/clock/clocksrv"
)

func TestInterval(t *testing.T) {
	for _, tc := range []struct {
		ms   int32
		want time.Duration
		code codes.Code
	}{
		{ms: 0, want: clocksrv.DefaultInterval},
		{ms: 1, want: clocksrv.MinInterval},
		{ms: 10, want: 10 * time.Millisecond},
		{ms: 250, want: 250 * time.Millisecond},
		{ms: 10_000, want: 10 * time.Second},
		{ms: 10_001, want: clocksrv.MaxInterval},
		{ms: 1 << 30, want: clocksrv.MaxInterval},
		{ms: -1, code: codes.InvalidArgument},
	} {
		got, err := clocksrv.Interval(tc.ms)
		if status.Code(err) != tc.code || got != tc.want {
			t.Errorf("Interval(%d) = %v, %v; want %v, %v", tc.ms, got, err, tc.want, tc.code)
		}
	}
}
