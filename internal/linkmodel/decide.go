package linkmodel

import (
	"math/rand/v2"
	"time"
)

// ReorderHold is the least extra delay of a packet [Decide] reorders. On
// top of it comes a draw of up to the link's maximum latency, so later
// packets on a busy link overtake the held one.
const ReorderHold = time.Millisecond

// DecideDraws is how many values [Decide] takes from its generator per
// call, whatever the link conditions.
const DecideDraws = 5

// Fate is what happens to one packet on one link.
type Fate struct {
	Lost      bool          // dropped; the other fields are zero
	Copies    int           // 1, or 2 when duplicated
	Delay     time.Duration // one-way latency, plus the hold when Reordered
	Reordered bool          // held back so that later packets overtake it
}

// Decide draws the fate of one packet under link conditions l. It always
// takes [DecideDraws] values from r, in a fixed order (loss, duplicate,
// reorder, latency, hold), so a change of link settings never shifts the
// decisions of later packets: removing one link fault from a plan changes
// what that fault did and nothing else. The latency is uniform over
// l.Latency; a reordered packet waits [ReorderHold] plus a uniform draw of
// up to l.Latency.Max on top.
func Decide(r *rand.Rand, l Link) Fate {
	uLoss, uDup, uReorder, uLat, uHold := r.Float64(), r.Float64(), r.Float64(), r.Float64(), r.Float64()
	if uLoss < l.Loss {
		return Fate{Lost: true}
	}
	f := Fate{Copies: 1}
	if uDup < l.Duplicate {
		f.Copies = 2
	}
	f.Delay = latency(uLat, l.Latency)
	if uReorder < l.Reorder {
		f.Reordered = true
		f.Delay += ReorderHold + time.Duration(uHold*float64(l.Latency.Max))
	}
	return f
}

// latency maps a uniform draw u in [0, 1) onto rg. A single multiply and
// a conversion, so the result is the same on every CPU.
func latency(u float64, rg Range) time.Duration {
	return rg.Min + time.Duration(u*float64(rg.Max-rg.Min))
}
