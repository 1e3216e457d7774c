package backend

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWallClock(t *testing.T) {
	c := NewWallClock()
	if err := c.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep: %v", err)
	}
	if c.Now() < time.Millisecond {
		t.Fatalf("Now() = %v after sleeping 1ms", c.Now())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep with a cancelled context = %v, want context.Canceled", err)
	}
}
