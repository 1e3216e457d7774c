package hvbackend

import (
	"fmt"
	"hash/fnv"
	"maps"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// Coverage without user work. The Go services mvrun builds for hv are
// built with coverage counters (go build -cover -covermode=count over the
// packages of the service's own module; internal/gobuild), and the cluster
// reads the counters from guest memory: at every multiple of the sample
// period of virtual time (an observer, [hv.Cluster.Observe]), as each
// process exits ([hv.Cluster.ObserveExits]) and when the cluster closes.
// Reading changes nothing in the run: observers run between guest events
// and only read, so a seed's trace hash is the same whether it is sampled
// or not. Each read becomes a [backend.EventCoverage] per node and program.
//
// Programs mvrun does not build (x-mvrun.binary, an image's program) have
// no counters unless their builder added them; their nodes get one event
// that says so, and the search uses their SDK lines only.

// coverDir is the GOCOVERDIR of every process, in its node's file system,
// unless the service sets its own. A -cover program without one prints
// "warning: GOCOVERDIR not set, no coverage data emitted" to its stderr
// at start, which would reach the service's and its commands' output;
// with one it writes its metadata file there at start and a counter file
// at exit, which nothing reads. Under /run/mvrun, disk faults never hit it.
const coverDir = "/run/mvrun/cover"

// Cover configures coverage counters on hv.
type Cover struct {
	// Off builds Go services without counters and reads none (also
	// MVRUN_COVER=0). Counters are on otherwise: a run with them is as
	// much a function of its seed as one without, and every command gives
	// the same run of a seed (the guest sees its program's path in the
	// node, not the host path that differs between commands; guestArgv).
	// A build with counters is a different binary, though, so a seed's
	// run differs between the two settings: a finding is replayed with
	// the setting it was found with.
	Off bool
	// Period is the virtual time between samples; 0 means
	// [DefaultCoverPeriod]. A search sets it to its burst, so that every
	// burst boundary has a sample.
	Period time.Duration
}

// DefaultCoverPeriod is the virtual time between coverage samples outside
// a search.
const DefaultCoverPeriod = time.Second

// CoverEnv is the environment variable that turns coverage counters off
// when set to "0" or "off" (and on, the default, when set to "1" or
// "on"): [New] reads it, so every command that runs hv honours it (to
// replay a finding made without counters, or to measure what they cost).
const CoverEnv = "MVRUN_COVER"

// coverFromEnv returns c with Off set as [CoverEnv] says, if it says.
func coverFromEnv(c Cover) Cover {
	switch os.Getenv(CoverEnv) {
	case "1", "on":
		c.Off = false
	case "0", "off":
		c.Off = true
	}
	return c
}

// coverPlan is what Prepare decided about counters, for every cluster.
type coverPlan struct {
	period time.Duration
	// labels names each program with counters by its host path: the base
	// name of its build context (or binary), made unique. A feature of the
	// search is (label, counter index, bucket), so nodes running one build
	// share their features.
	labels map[string]string
	// without says, per service, why its program has no counters.
	without map[string]string
}

// planCover decides, once programs are known, which services have
// counters. built holds the services mvrun built from a Go main package.
func planCover(cfg Cover, t *specs.Test, programs map[string]string, built map[string]bool) *coverPlan {
	p := &coverPlan{period: cfg.Period, labels: map[string]string{}, without: map[string]string{}}
	if p.period <= 0 {
		p.period = DefaultCoverPeriod
	}
	used := map[string]bool{}       // labels given
	bySource := map[string]string{} // build context or binary → label
	for _, s := range t.Project.Services {
		path := programs[s.Name]
		source := path
		if built[s.Name] {
			source = s.Build.Context // services sharing a build share a label
		}
		if l, ok := bySource[source]; ok {
			p.labels[path] = l
			continue
		}
		size, err := hv.CoverRegion(path)
		switch {
		case cfg.Off:
			p.without[s.Name] = fmt.Sprintf("coverage counters are off (%s=0); guidance and assertions only", CoverEnv)
		case err == nil && size > 0:
			base := filepath.Base(source)
			label := base
			for i := 2; used[label]; i++ {
				label = fmt.Sprintf("%s#%d", base, i)
			}
			used[label] = true
			bySource[source] = label
			p.labels[path] = label
		case built[s.Name]:
			p.without[s.Name] = "its program has no coverage counters; guidance and assertions only"
		case s.Binary != "":
			p.without[s.Name] = "x-mvrun.binary is a program mvrun did not build (no go build -cover counters in it): guidance and assertions only"
		default:
			p.without[s.Name] = "its program comes from an image mvrun did not build (no go build -cover counters in it): guidance and assertions only"
		}
	}
	return p
}

// coverPlan returns what Prepare decided about counters (nil before it).
func (b *Backend) coverPlan() *coverPlan {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cplan
}

// coverState is a cluster's coverage bookkeeping.
type coverState struct {
	plan      *coverPlan
	announced bool                  // the nodes without counters were reported
	nodes     map[string]*nodeCover // by node name
	// last is the time the last periodic sample was due; -1 when that is
	// not known (bookkeeping started afresh on a restored cluster).
	last time.Duration
}

// nodeCover is what one node's programs hit so far in this run.
type nodeCover struct {
	progs map[string]*progCover // by program label
}

// progCover is what one program hit so far on one node.
type progCover struct {
	seen map[uint64]bool // (index, bucket) pairs reported: index<<32 | bucket
	hit  map[uint32]bool // counters that were ever non-zero
}

// coverSetup starts reading coverage counters on c with its plan
// (c.covPlan, from [Backend.coverPlan]): the next sample at the first
// multiple of the period after the cluster's time, then every period, and
// a read of every process as it exits. A cluster restored from a snapshot
// calls it again once restored (resumeLive), since snapshots drop
// observers. Its bookkeeping (which pairs each node already reported)
// goes on from c.cov when that is set — a [coverState.clone] of the one
// kept with the snapshot — and otherwise starts afresh: the first read
// then reports every pair it sees as new (a superset of what is new; a
// search, which unions features, loses nothing). It does nothing without
// a plan, or when no service has counters or a reason for none.
func (c *cluster) coverSetup() {
	p := c.covPlan
	if p == nil || len(p.labels) == 0 && len(p.without) == 0 {
		return
	}
	if c.cov == nil {
		c.cov = &coverState{plan: p, nodes: map[string]*nodeCover{}}
		if c.hc.Now() > 0 {
			// A restored cluster: its past reported these already.
			c.cov.announced, c.cov.last = true, -1
		}
	}
	if len(p.labels) == 0 {
		// Nothing to read; say so once, at the first period.
		c.hc.Observe(p.period, c.coverAnnounce)
		return
	}
	c.hc.ObserveExits(c.coverExit)
	c.coverArm()
}

// coverArm arms the observer for the next sample: one period after the
// last one. A cluster restored from a snapshot taken at a sample time
// may or may not have made that sample before the snapshot (an observer
// due at the time a run stops at runs once the simulation goes on), so
// the time of the last sample, not the clock, says which is next; when it
// is not known, the next is the first sample time from now on.
func (c *cluster) coverArm() {
	period := c.cov.plan.period
	next := c.cov.last + period
	if c.cov.last < 0 || next < c.hc.Now() {
		next = (c.hc.Now() + period - 1) / period * period
	}
	next = max(next, period)
	c.hc.Observe(next, func() {
		c.cov.last = next
		c.coverSample(next, false)
		c.coverArm()
	})
}

// coverAnnounce reports, once, the nodes whose programs have no counters.
func (c *cluster) coverAnnounce() {
	if c.cov.announced {
		return
	}
	c.cov.announced = true
	for _, n := range c.order {
		if why, ok := c.cov.plan.without[n.svc.Name]; ok {
			c.emit(backend.Event{Kind: backend.EventCoverage, Node: n.svc.Name, Cover: &backend.CoverSample{Without: why}})
		}
	}
}

// coverSample reads the counters of every live process and reports each
// node's programs, in node order, then program label order. A node with
// counters but no live process reports what it hit so far. due is the
// sample time it was armed for (the read happens at the first point
// between guest events from then on); final marks the read at Close.
func (c *cluster) coverSample(due time.Duration, final bool) {
	if c.cov == nil || len(c.cov.plan.labels) == 0 {
		return
	}
	c.coverAnnounce()
	for _, n := range c.order {
		reads := map[string][]hv.CoverCounter{}
		for _, p := range n.n.Processes() {
			label, ctrs, ok := c.coverRead(p)
			if ok {
				reads[label] = append(reads[label], ctrs...)
			}
		}
		nc := c.cov.node(n.svc.Name)
		labels := slices.Sorted(func(yield func(string) bool) {
			for l := range reads {
				if !yield(l) {
					return
				}
			}
			for l := range nc.progs {
				if _, ok := reads[l]; !ok && !yield(l) {
					return
				}
			}
		})
		for _, l := range labels {
			c.coverReport(n.svc.Name, l, reads[l], due, false, final)
		}
	}
}

// coverExit reads a process as it exits.
func (c *cluster) coverExit(p *hv.Process) {
	if c.cov == nil {
		return
	}
	if label, ctrs, ok := c.coverRead(p); ok {
		c.coverReport(p.Node().Name(), label, ctrs, c.hc.Now(), true, false)
	}
}

// coverRead reads p's counters; ok is false when its binary has none (or
// they cannot be read, which is logged).
func (c *cluster) coverRead(p *hv.Process) (string, []hv.CoverCounter, bool) {
	ctrs, ok, err := p.Coverage()
	if err != nil {
		c.log.Warn("reading coverage counters", "node", p.Node().Name(), "pid", p.Pid(), "err", err)
		return "", nil, false
	}
	if !ok {
		return "", nil, false
	}
	label := c.cov.plan.labels[p.Binary()]
	if label == "" {
		label = filepath.Base(p.Binary()) // a -cover program mvrun did not build
	}
	return label, ctrs, true
}

// clone copies the bookkeeping, for a snapshot: a cluster restored from
// it and given the copy as its cov reports exactly what the original
// would have reported from then on.
func (s *coverState) clone() *coverState {
	if s == nil {
		return nil
	}
	cp := &coverState{plan: s.plan, announced: s.announced, last: s.last, nodes: map[string]*nodeCover{}}
	for name, nc := range s.nodes {
		n := &nodeCover{progs: map[string]*progCover{}}
		for l, pc := range nc.progs {
			n.progs[l] = &progCover{seen: maps.Clone(pc.seen), hit: maps.Clone(pc.hit)}
		}
		cp.nodes[name] = n
	}
	return cp
}

func (s *coverState) node(name string) *nodeCover {
	nc := s.nodes[name]
	if nc == nil {
		nc = &nodeCover{progs: map[string]*progCover{}}
		s.nodes[name] = nc
	}
	return nc
}

// coverReport folds one read of program label on node into the node's
// bookkeeping and emits it. ctrs may hold the counters of several
// processes of the program (a counter may then appear more than once).
func (c *cluster) coverReport(node, label string, ctrs []hv.CoverCounter, due time.Duration, exit, final bool) {
	nc := c.cov.node(node)
	pc := nc.progs[label]
	if pc == nil {
		pc = &progCover{seen: map[uint64]bool{}, hit: map[uint32]bool{}}
		nc.progs[label] = pc
	}
	pairs := make([]uint64, 0, len(ctrs))
	for _, k := range ctrs {
		pairs = append(pairs, uint64(k.Index)<<32|uint64(Bucket(k.Count)))
		pc.hit[k.Index] = true
	}
	slices.Sort(pairs)
	pairs = slices.Compact(pairs)
	h := fnv.New64a()
	var buf [8]byte
	s := &backend.CoverSample{Program: label, DueNS: int64(due), Exit: exit, Final: final, Hit: len(pc.hit)}
	counters := map[uint32]bool{}
	for _, pr := range pairs {
		counters[uint32(pr>>32)] = true
		for i := range buf {
			buf[i] = byte(pr >> (8 * i))
		}
		h.Write(buf[:])
		if !pc.seen[pr] {
			pc.seen[pr] = true
			s.New = append(s.New, [2]uint32{uint32(pr >> 32), uint32(pr)})
		}
	}
	s.Counters = len(counters)
	if len(pairs) > 0 {
		s.Fingerprint = h.Sum64()
	}
	c.emit(backend.Event{Kind: backend.EventCoverage, Node: node, Cover: s})
}

// Bucket groups a counter's count as AFL groups edge hit counts: 1, 2, 3,
// then 4 for 4–7, 8 for 8–15 and so on, so that a change in how often a
// block runs is novel only when it is large.
func Bucket(n uint32) uint32 {
	if n <= 3 {
		return n
	}
	return 1 << (bits.Len32(n) - 1)
}
