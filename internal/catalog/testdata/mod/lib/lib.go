// Package lib is a library with assertions, linked into cmd/app.
package lib

import (
	sdk "github.com/mvrun/multiverse/sdk/assert"
)

const prefix = "lib: "

// Store holds a balance.
type Store struct{ balance int }

// Withdraw takes n from the balance.
func (s *Store) Withdraw(n int) {
	s.balance -= n
	sdk.AlwaysGreaterThanOrEqualTo(s.balance, 0, prefix+"balance never negative", map[string]any{"n": n})
}

// Never is never called.
func Never() {
	sdk.Reachable("lib: never called", nil)
}
