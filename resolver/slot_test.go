package resolver

import (
	"context"
	"testing"
)

// slotCtx is a context that carries a Slot the way the package doc shows.
type slotCtx struct {
	context.Context
	slot Slot
}

func (c *slotCtx) Value(key any) any {
	if v := c.slot.Value(key); v != nil {
		return v
	}
	return c.Context.Value(key)
}

func TestSlot(t *testing.T) {
	outer := &Endpoint{Service: "outer"}
	c := &slotCtx{Context: WithEndpoint(context.Background(), outer)}
	if got := EndpointFrom(c); got != outer {
		t.Fatalf("empty slot: EndpointFrom = %+v, want the parent's", got)
	}
	ep := &Endpoint{Service: "routed"}
	c.slot.Set(ep)
	derived, cancel := context.WithCancel(c)
	defer cancel()
	for _, ctx := range []context.Context{c, derived} {
		if got := EndpointFrom(ctx); got != ep {
			t.Errorf("EndpointFrom = %+v, want the slot's", got)
		}
	}
	inner := &Endpoint{Service: "inner"}
	if got := EndpointFrom(WithEndpoint(derived, inner)); got != inner {
		t.Errorf("WithEndpoint over a slot: %+v", got)
	}
	if c.slot.Value(struct{}{}) != nil {
		t.Error("a slot answers a key that is not EndpointFrom's")
	}
}
