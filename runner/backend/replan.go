package backend

import (
	"time"

	"github.com/mvrun/multiverse/faults"
)

// Replanner is a [Cluster] that redraws part of its seed's fault plan: a
// branch of a run (mvrun explore on hv) keeps the plan's actions before
// the branch's moment and draws the ones after it anew. The runner hands
// it the seed's plan as the fault phase starts, at cluster time start
// (the plan's action times count from there), and runs what it returns.
type Replanner interface {
	Replan(p faults.Plan, start time.Duration) faults.Plan
}
