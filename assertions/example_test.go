package assertions_test

import (
	"fmt"

	"github.com/mvrun/multiverse/assertions"
)

// The runner feeds every SDK line of every node, then asks for verdicts.
func Example() {
	c := assertions.NewCollector()
	for seed := uint64(1); seed <= 2; seed++ {
		// Catalog line written at start-up: the property exists even if
		// no seed reaches it.
		c.Add(seed, "bank1", "", 1, []byte(`{"antithesis_assert":{"id":"leader failover happens","message":"leader failover happens","condition":false,"display_type":"Sometimes","hit":false,"must_hit":true,"assert_type":"sometimes","location":{},"details":null}}`))
		c.Add(seed, "bank1", "", 2, []byte(fmt.Sprintf(
			`{"antithesis_assert":{"id":"balance never negative","message":"balance never negative","condition":%t,"display_type":"Always","hit":true,"must_hit":true,"assert_type":"always","location":{},"details":{"balance":%d}}}`,
			seed == 1, 3-2*int(seed))))
		c.Builtin(seed, "no node crashed unexpectedly", assertions.BuiltinAlways, true, nil)
		c.SeedDone(seed)
	}
	r := c.Result()
	for _, p := range r.Properties {
		fmt.Println(p)
	}
	fmt.Println("failing in seed 2:", r.FailingIn(2))
	// Output:
	// FAIL Always "balance never negative": false in 1 of 2 seeds (first in seed 0x0000000000000002, node bank1)
	// FAIL Sometimes "leader failover happens": never reached in any of 2 seeds
	// PASS Always "no node crashed unexpectedly"
	// failing in seed 2: [balance never negative leader failover happens]
}
