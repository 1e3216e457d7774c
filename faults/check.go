package faults

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Check reports what in c cannot work for a cluster of nodes, so that a
// spec fails loudly instead of silently injecting less than it says: service
// names that are not nodes, missing or negative rates and durations,
// probabilities outside [0, 1], partition kinds the cluster is too small
// for, and kill or pause faults over a single node (mvrun always keeps one
// node of each kill and pause fault's services running, so such a fault
// would never fire). Each error names the fault block and says what to do;
// they are joined.
func (c Config) Check(nodes []string) error {
	var errs []error
	bad := func(kind, format string, args ...any) {
		errs = append(errs, fmt.Errorf("faults: %s: %s", kind, fmt.Sprintf(format, args...)))
	}
	services := func(kind string, ss []string) []string {
		for _, s := range ss {
			if !slices.Contains(nodes, s) {
				bad(kind, "service %q is not in the compose project (services: %s); fix the name or remove it", s, strings.Join(nodes, ", "))
			}
		}
		return participants(ss, nodes)
	}
	every := func(kind string, d time.Duration, required bool) {
		switch {
		case d < 0:
			bad(kind, "every = %v is negative; use a positive mean interval like \"10s\"", d)
		case d == 0 && required:
			bad(kind, "every is not set; give a mean interval like \"10s\"")
		}
	}
	rng := func(kind, name string, r Range, positive bool) {
		switch {
		case r.Min < 0 || r.Max < r.Min:
			bad(kind, "%s = %v: want 0 <= min <= max, like \"1s..8s\"", name, r)
		case positive && r.Max <= 0:
			bad(kind, "%s is zero; give a duration or range like \"1s..8s\"", name)
		}
	}
	prob := func(kind, name string, p float64) {
		if !(p >= 0 && p <= 1) {
			bad(kind, "%s = %v: want a probability between 0 and 1", name, p)
		}
	}
	if c.Quiet < 0 {
		bad("quiet", "%v is negative", c.Quiet)
	}
	if p := c.Partition; p != nil {
		n := len(services(KindPartition, p.Services))
		every(KindPartition, p.Every, true)
		rng(KindPartition, "heal_after", p.HealAfter, true)
		if len(p.Kinds) == 0 && n < 2 {
			bad(KindPartition, "needs at least 2 nodes, the partition has %d; add services", n)
		}
		for _, k := range p.Kinds {
			switch m := k.MinNodes(); {
			case m == 0:
				bad(KindPartition, "unknown kind %q; use halves, isolate, bridge or majorities", k)
			case n < m:
				bad(KindPartition, "kind %q needs at least %d nodes, the partition has %d; remove it or add services", k, m, n)
			}
		}
	}
	if l := c.Link; l != nil {
		services(KindLink, l.Services)
		every(KindLink, l.Every, false)
		rng(KindLink, "latency", l.Latency, false)
		prob(KindLink, "loss", l.Loss)
		prob(KindLink, "duplicate", l.Duplicate)
		prob(KindLink, "reorder", l.Reorder)
	}
	outage := func(kind string, ss []string, e time.Duration, name string, length Range) {
		if n := len(services(kind, ss)); n < 2 {
			bad(kind, "only %d node can be affected, and mvrun always keeps one of a %s fault's services running; list at least 2 services", n, kind)
		}
		every(kind, e, true)
		rng(kind, name, length, kind == KindPause)
	}
	if k := c.Kill; k != nil {
		outage(KindKill, k.Services, k.Every, "restart_after", k.RestartAfter)
	}
	if p := c.Pause; p != nil {
		outage(KindPause, p.Services, p.Every, "duration", p.Duration)
	}
	if s := c.ClockSkew; s != nil {
		services(KindClockSkew, s.Services)
		every(KindClockSkew, s.Every, false)
		if s.MaxOffset <= 0 {
			bad(KindClockSkew, "max_offset must be a positive duration like \"30s\"")
		}
	}
	if d := c.Disk; d != nil {
		services(KindDisk, d.Services)
		checkDisk(d, c, nodes, bad)
	}
	return errors.Join(errs...)
}
