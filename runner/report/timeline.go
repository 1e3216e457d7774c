package report

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mvrun/multiverse/assertions"
	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner"
)

// seedTimeline is one seed's timeline.jsonl, read back.
type seedTimeline struct {
	recs []runner.TimelineRecord
	// asserts holds the decoded assertion of each TLSDK record that
	// carries one, by record index.
	asserts map[int]*assertHit
	// cut is the index of the note the report added when it stopped
	// reading a long file (not an entry of the file); -1 if none.
	cut int
}

// assertHit is the part of an antithesis_assert line the report shows.
type assertHit struct {
	ID          string                `json:"id"`
	Message     string                `json:"message"`
	Condition   bool                  `json:"condition"`
	DisplayType string                `json:"display_type"`
	AssertType  assertions.AssertType `json:"assert_type"`
	MustHit     bool                  `json:"must_hit"`
	Hit         bool                  `json:"hit"`
	Details     map[string]any        `json:"details"`
	Location    struct {
		File     string `json:"file"`
		Function string `json:"function"`
		Line     int    `json:"begin_line"`
	} `json:"location"`
}

// bad reports whether the hit counts against its property, as the
// assertions package judges it: any hit of an Unreachable, a false
// condition otherwise.
func (a *assertHit) bad() bool {
	if a.AssertType == assertions.TypeReachability && !a.MustHit {
		return true
	}
	return !a.Condition
}

// maxTimelineBytes bounds how much of a timeline.jsonl the report reads: a
// page that would need more is not one a browser shows quickly, and the
// file itself stays linked.
const maxTimelineBytes = 64 << 20

// loadTimeline reads dir/timeline.jsonl. A seed recorded before the file
// existed has none: that is (nil, nil), and pages say so.
func loadTimeline(dir string) (*seedTimeline, error) {
	f, err := os.Open(filepath.Join(dir, runner.TimelineJSONFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st := &seedTimeline{asserts: map[int]*assertHit{}, cut: -1}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	read := 0
	for sc.Scan() {
		read += len(sc.Bytes()) + 1
		if read > maxTimelineBytes {
			st.cut = len(st.recs)
			st.recs = append(st.recs, runner.TimelineRecord{Kind: runner.TLNote, Who: "report",
				AtNS: lastAt(st.recs), Text: fmt.Sprintf("the report read only the first %d MiB of %s", maxTimelineBytes>>20, runner.TimelineJSONFile)})
			break
		}
		var r runner.TimelineRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", runner.TimelineJSONFile, len(st.recs)+1, err)
		}
		if r.Assert != nil {
			var a assertHit
			if json.Unmarshal(r.Assert, &a) == nil {
				st.asserts[len(st.recs)] = &a
			}
		}
		st.recs = append(st.recs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", runner.TimelineJSONFile, err)
	}
	return st, nil
}

func lastAt(recs []runner.TimelineRecord) int64 {
	if len(recs) == 0 {
		return 0
	}
	return recs[len(recs)-1].AtNS
}

// firstFailure returns the index of the record that is property id's first
// failing evaluation in this seed, or -1 when no record is (a property
// that failed by never being reached, or a built-in judged at the end).
func (st *seedTimeline) firstFailure(id string) int {
	if st == nil {
		return -1
	}
	switch {
	case id == runner.PropNoCrash:
		fallback := -1
		for i, r := range st.recs {
			if r.Kind == runner.TLNode && r.Event == "exit" && !r.Expected {
				if r.ExitCode != 0 || r.Signal != "" {
					return i
				}
				if fallback < 0 {
					fallback = i
				}
			}
		}
		return fallback
	case id == runner.PropSetup:
		return st.find(func(r runner.TimelineRecord) bool {
			return r.Kind == runner.TLNote && strings.HasPrefix(r.Text, "setup did not complete")
		})
	case id == runner.PropTimeout:
		return st.find(func(r runner.TimelineRecord) bool {
			return r.Kind == runner.TLNote && strings.HasPrefix(r.Text, "seed timed out")
		})
	}
	if i := st.find(func(r runner.TimelineRecord) bool {
		return r.Kind == runner.TLCmdEnd && r.Result == "fail" && runner.PropCommandExited(r.Command) == id
	}); i >= 0 {
		return i
	}
	for i := range st.recs {
		if a := st.asserts[i]; a != nil && a.ID == id && a.bad() {
			return i
		}
	}
	return -1
}

// counterexample returns the index of the record of an SDK counterexample,
// or, for a built-in one, of the property's first failure; -1 if none.
func (st *seedTimeline) counterexample(id string, ce *Counterexample) int {
	if st == nil {
		return -1
	}
	if ce.LineNo > 0 {
		if i := st.find(func(r runner.TimelineRecord) bool {
			return r.Kind == runner.TLSDK && r.Node == ce.Node && r.Proc == ce.Proc && r.LineNo == ce.LineNo
		}); i >= 0 {
			return i
		}
	}
	return st.firstFailure(id)
}

// reached returns the ids of the SDK assertions evaluated in this seed.
func (st *seedTimeline) reached() map[string]bool {
	out := map[string]bool{}
	if st == nil {
		return out
	}
	for _, a := range st.asserts {
		out[a.ID] = true
	}
	return out
}

// params returns the seed's fault plan parameters, from its plan record.
func (st *seedTimeline) params() map[string]string {
	if st == nil {
		return nil
	}
	for _, r := range st.recs {
		if r.Kind == runner.TLPlan {
			return r.Params
		}
	}
	return nil
}

func (st *seedTimeline) find(pred func(runner.TimelineRecord) bool) int {
	return slices.IndexFunc(st.recs, pred)
}

// propAnchor is the fragment that names property id on a seed page: the
// row of its first failing evaluation, or its entry in the page's list of
// failing properties. Ids are free text, so the anchor is a digest.
func propAnchor(id string) string {
	h := sha256.Sum256([]byte(id))
	return "f-" + hex.EncodeToString(h[:5])
}

// rowAnchor is the fragment of a seed page's log line for record i.
func rowAnchor(i int) string { return fmt.Sprintf("L%d", i) }

// seedPageName is the file name of seed's page: seed-<16 hex digits>.html,
// like the seed's artifacts directory.
func seedPageName(seed string) string {
	return "seed-" + strings.TrimPrefix(seed, "0x") + ".html"
}

// fmtAtNS renders a cluster time as seconds with millisecond precision.
func fmtAtNS(ns int64) string {
	return fmt.Sprintf("%.3fs", time.Duration(ns).Seconds())
}

// The drawing the seed page's script renders: lanes, spans and marks with
// times in milliseconds. Short field names keep a busy seed's page small.
type tlData struct {
	End   float64  `json:"end"`
	Axis  string   `json:"axis"`
	Lanes []tlLane `json:"lanes"`
	Spans []tlSpan `json:"spans"`
	Marks []tlMark `json:"marks"`
}

type tlLane struct {
	Label string `json:"label"`
	Kind  string `json:"kind"` // phase, node, net, cmd
}

// tlSpan is a bar on lane L from A to B (ms); C is its class (up, down,
// crashed, paused, cut, clock, partition, link, phase; ok, fail, cutc and
// running for command runs; "unsup" is added for faults the backend did
// not apply), T its
// label, H its hover text, R the log row it comes from.
type tlSpan struct {
	L int     `json:"l"`
	A float64 `json:"a"`
	B float64 `json:"b"`
	C string  `json:"c"`
	T string  `json:"t,omitempty"`
	H string  `json:"h"`
	R string  `json:"r,omitempty"`
	// Row places a span in one of a lane's sub-rows: 0 the main bar,
	// 1 the partition strip, 2 the clock strip.
	Row int `json:"row,omitempty"`
}

// tlMark is an instant on lane L at A (ms): C is pass, fail, kill, restart,
// crash, jump or fault; F marks a property's first failing evaluation.
type tlMark struct {
	L int     `json:"l"`
	A float64 `json:"a"`
	C string  `json:"c"`
	H string  `json:"h"`
	R string  `json:"r,omitempty"`
	F bool    `json:"f,omitempty"`
}

func ms(ns int64) float64 { return float64(ns/1000) / 1000 }

// buildTimeline lays out st as lanes: phases, one per node, the network
// (partitions and link faults), then one per workload command instance.
// rowOK says whether record i has a log row to point at; failing holds the
// records that are a property's first failing evaluation.
func buildTimeline(st *seedTimeline, axis string, rowOK func(int) bool, failing map[int]bool) tlData {
	d := tlData{Axis: axis, Lanes: []tlLane{}, Spans: []tlSpan{}, Marks: []tlMark{}}
	if st == nil || len(st.recs) == 0 {
		return d
	}
	end := lastAt(st.recs)
	d.End = ms(end)
	row := func(i int) string {
		if rowOK(i) {
			return rowAnchor(i)
		}
		return ""
	}

	// Lanes: nodes are every node the plan names, that started, or that
	// sent SDK lines itself, sorted; workload lanes in order of first run.
	nodeSet := map[string]bool{}
	type cmdKey struct{ name, inst string }
	var cmdOrder []cmdKey
	cmdSeen := map[cmdKey]bool{}
	for _, r := range st.recs {
		switch r.Kind {
		case runner.TLNode:
			nodeSet[r.Who] = true
		case runner.TLSDK:
			if r.Node != "" {
				nodeSet[r.Node] = true
			}
		case runner.TLFault:
			if r.Action != nil {
				for _, n := range r.Action.Nodes {
					nodeSet[n] = true
				}
				if p := r.Action.Partition; p != nil {
					for _, n := range p.Members() {
						nodeSet[n] = true
					}
				}
			}
		case runner.TLCmdStart:
			k := cmdKey{r.Command, instanceOf(r.Run)}
			if !cmdSeen[k] {
				cmdSeen[k] = true
				cmdOrder = append(cmdOrder, k)
			}
		}
	}
	nodes := slices.Sorted(func(yield func(string) bool) {
		for n := range nodeSet {
			if !yield(n) {
				return
			}
		}
	})
	lane := map[string]int{}
	add := func(key, label, kind string) {
		lane[key] = len(d.Lanes)
		d.Lanes = append(d.Lanes, tlLane{label, kind})
	}
	add("phase", "phases", "phase")
	for _, n := range nodes {
		add("n:"+n, n, "node")
	}
	add("net", "network", "net")
	for _, k := range cmdOrder {
		label := k.name
		if k.inst != "" {
			label += " #" + k.inst
		}
		add("c:"+k.name+"#"+k.inst, label, "cmd")
	}

	// Open spans, closed by a later record or the end of the timeline.
	type open struct {
		at   int64
		rec  int
		c, t string
		h    string
	}
	closeSpan := func(l int, o *open, at int64, sub int) {
		if o == nil {
			return
		}
		d.Spans = append(d.Spans, tlSpan{L: l, A: ms(o.at), B: ms(max(at, o.at)), C: o.c, T: o.t, H: o.h, R: row(o.rec), Row: sub})
	}
	var phase *open
	state := map[string]*open{}  // node: up, down or crashed
	paused := map[string]*open{} // node: paused
	cut := map[string]*open{}    // node: cut off by a partition
	clock := map[string]*open{}  // node: clock offset
	var part, link *open
	cmds := map[string]*open{} // command run: running
	type cmdLaneSpan struct {
		a, b int64
		l    int
	}
	var cmdSpans []cmdLaneSpan

	for i, r := range st.recs {
		at := r.AtNS
		switch r.Kind {
		case runner.TLPhase:
			closeSpan(lane["phase"], phase, at, 0)
			phase = &open{at: at, rec: i, c: "phase", t: r.Phase, h: "phase " + r.Phase + " from " + fmtAtNS(at)}
		case runner.TLNode:
			l := lane["n:"+r.Who]
			closeSpan(l, state[r.Who], at, 0)
			if r.Event == "start" {
				state[r.Who] = &open{at: at, rec: i, c: "up", h: r.Who + " up from " + fmtAtNS(at)}
				continue
			}
			h := fmt.Sprintf("%s %s at %s", r.Who, r.Text, fmtAtNS(at))
			if r.Expected {
				state[r.Who] = &open{at: at, rec: i, c: "down", h: r.Who + " down (stopped by mvrun) from " + fmtAtNS(at)}
				continue
			}
			state[r.Who] = &open{at: at, rec: i, c: "crashed", h: r.Who + " down after crashing at " + fmtAtNS(at)}
			d.Marks = append(d.Marks, tlMark{L: l, A: ms(at), C: "crash", H: h, R: row(i), F: failing[i]})
		case runner.TLFault:
			if r.Action == nil {
				continue
			}
			a := r.Action
			unsup := r.Outcome != "ok"
			cls := func(c string) string {
				if unsup {
					return c + " unsup"
				}
				return c
			}
			h := fmt.Sprintf("%s at %s [%s]", a, fmtAtNS(at), r.Outcome)
			switch a.Kind {
			case faults.ActKill, faults.ActRestart:
				for _, n := range a.Nodes {
					d.Marks = append(d.Marks, tlMark{L: lane["n:"+n], A: ms(at), C: cls(string(a.Kind)), H: h, R: row(i)})
				}
			case faults.ActPause:
				for _, n := range a.Nodes {
					closeSpan(lane["n:"+n], paused[n], at, 0)
					paused[n] = &open{at: at, rec: i, c: cls("paused"), t: "paused", h: n + " paused from " + fmtAtNS(at) + " [" + r.Outcome + "]"}
				}
			case faults.ActResume:
				for _, n := range a.Nodes {
					if o := paused[n]; o != nil {
						o.h += ", resumed at " + fmtAtNS(at)
					}
					closeSpan(lane["n:"+n], paused[n], at, 0)
					delete(paused, n)
				}
			case faults.ActPartition:
				for _, n := range nodes {
					closeSpan(lane["n:"+n], cut[n], at, 1)
					delete(cut, n)
				}
				closeSpan(lane["net"], part, at, 0)
				part = nil
				if a.Partition == nil {
					continue
				}
				part = &open{at: at, rec: i, c: cls("partition"), t: "partition " + string(a.Partition.Kind), h: h}
				for _, n := range nodes {
					var from []string
					for _, m := range nodes {
						if m != n && (a.Partition.Cuts(n, m) || a.Partition.Cuts(m, n)) {
							from = append(from, m)
						}
					}
					if len(from) > 0 {
						txt := "cut off from " + strings.Join(from, ",")
						cut[n] = &open{at: at, rec: i, c: cls("cut"), t: txt, h: n + " " + txt + " (" + a.Partition.String() + ") from " + fmtAtNS(at)}
					}
				}
			case faults.ActHeal:
				for _, n := range nodes {
					if o := cut[n]; o != nil {
						o.h += ", healed at " + fmtAtNS(at)
					}
					closeSpan(lane["n:"+n], cut[n], at, 1)
					delete(cut, n)
				}
				if part != nil {
					part.h += "; healed at " + fmtAtNS(at)
				}
				closeSpan(lane["net"], part, at, 0)
				part = nil
			case faults.ActLink:
				closeSpan(lane["net"], link, at, 1)
				link = nil
				if a.Link != nil && *a.Link != (faults.Link{}) {
					who := strings.Join(a.Nodes, ",")
					if who == "" {
						who = "all links"
					}
					link = &open{at: at, rec: i, c: cls("link"), t: a.Link.String(), h: who + ": " + a.Link.String() + " from " + fmtAtNS(at) + " [" + r.Outcome + "]"}
				}
			case faults.ActClockSkew:
				for _, n := range a.Nodes {
					closeSpan(lane["n:"+n], clock[n], at, 2)
					delete(clock, n)
					if a.Offset != 0 {
						txt := fmt.Sprintf("clock %+v", a.Offset)
						clock[n] = &open{at: at, rec: i, c: cls("clock"), t: txt, h: n + " " + txt + " from " + fmtAtNS(at) + " [" + r.Outcome + "]"}
					}
				}
			case faults.ActClockJump:
				for _, n := range a.Nodes {
					d.Marks = append(d.Marks, tlMark{L: lane["n:"+n], A: ms(at), C: cls("jump"), H: h, R: row(i)})
				}
			default:
				for _, n := range a.Nodes {
					d.Marks = append(d.Marks, tlMark{L: lane["n:"+n], A: ms(at), C: cls("fault"), H: h, R: row(i)})
				}
			}
		case runner.TLCmdStart:
			key := r.Command + "#" + r.Run
			cmds[key] = &open{at: at, rec: i, c: "running", t: r.Command + "#" + r.Run,
				h: fmt.Sprintf("%s#%s (%s) on %s from %s", r.Command, r.Run, r.Role, r.Service, fmtAtNS(at))}
		case runner.TLCmdEnd:
			key := r.Command + "#" + r.Run
			o := cmds[key]
			if o == nil {
				o = &open{at: at - r.TookNS, rec: i, t: key}
			}
			delete(cmds, key)
			o.c = map[string]string{"ok": "ok", "fail": "fail", "cut": "cutc"}[r.Result]
			o.h += fmt.Sprintf(": %s after %v", r.Status, time.Duration(r.TookNS).Round(time.Millisecond))
			l := lane["c:"+r.Command+"#"+instanceOf(r.Run)]
			closeSpan(l, o, at, 0)
			cmdSpans = append(cmdSpans, cmdLaneSpan{o.at, at, l})
		case runner.TLSDK:
			a := st.asserts[i]
			if a == nil {
				continue
			}
			l, ok := lane["n:"+r.Node]
			if r.Proc != "" {
				// On the lane of the command run it came from.
				best := -1
				for _, k := range cmdOrder {
					if k.name != r.Proc {
						continue
					}
					cl := lane["c:"+k.name+"#"+k.inst]
					if best < 0 {
						best = cl
					}
					for _, cs := range cmdSpans {
						if cs.l == cl && cs.a <= at && at <= cs.b {
							best = cl
						}
					}
					for key, o := range cmds {
						if name, run, _ := strings.Cut(key, "#"); name == k.name && instanceOf(run) == k.inst && o.at <= at {
							best = cl
						}
					}
				}
				if best >= 0 {
					l, ok = best, true
				}
			}
			if !ok {
				continue
			}
			c := "pass"
			switch {
			case a.AssertType == assertions.TypeSometimes && !a.Condition:
				c = "false" // not a failure: a Sometimes fails only by never being true
			case a.bad():
				c = "fail"
			}
			d.Marks = append(d.Marks, tlMark{L: l, A: ms(at), C: c, H: assertText(a, r, at), R: row(i), F: failing[i]})
		}
	}
	closeSpan(lane["phase"], phase, end, 0)
	for _, n := range nodes {
		l := lane["n:"+n]
		closeSpan(l, state[n], end, 0)
		closeSpan(l, paused[n], end, 0)
		closeSpan(l, cut[n], end, 1)
		closeSpan(l, clock[n], end, 2)
	}
	closeSpan(lane["net"], part, end, 0)
	closeSpan(lane["net"], link, end, 1)
	for _, key := range slices.Sorted(func(yield func(string) bool) {
		for k := range cmds {
			if !yield(k) {
				return
			}
		}
	}) {
		o := cmds[key]
		name, run, _ := strings.Cut(key, "#")
		o.h += ": still running at the end of the timeline"
		closeSpan(lane["c:"+name+"#"+instanceOf(run)], o, end, 0)
	}
	// Node states first, so pauses and cuts are drawn over them; failing
	// marks last, so they sit on top.
	slices.SortStableFunc(d.Spans, func(x, y tlSpan) int {
		return spanRank(x) - spanRank(y)
	})
	// Draw failing marks last, so they sit on top.
	slices.SortStableFunc(d.Marks, func(x, y tlMark) int {
		return markRank(x) - markRank(y)
	})
	return d
}

func spanRank(s tlSpan) int {
	switch s.C {
	case "up", "down", "crashed":
		return 0
	}
	return 1
}

func markRank(m tlMark) int {
	switch {
	case m.F:
		return 3
	case m.C == "fail" || m.C == "crash":
		return 2
	case m.C == "pass":
		return 0
	}
	return 1
}

// instanceOf returns the instance part of a run name: "0" for a parallel
// driver's "0.3", "" for a plain count.
func instanceOf(run string) string {
	inst, _, ok := strings.Cut(run, ".")
	if !ok {
		return ""
	}
	return inst
}

// assertText describes an assertion evaluation for hover and click.
func assertText(a *assertHit, r runner.TimelineRecord, at int64) string {
	var b strings.Builder
	verdict := "passed"
	if a.bad() {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "%s %q %s\n", a.DisplayType, a.Message, verdict)
	fmt.Fprintf(&b, "at %s on %s, SDK line %d\n", fmtAtNS(at), nodeProcText(r.Node, r.Proc), r.LineNo)
	if l := a.Location; l.File != "" {
		fmt.Fprintf(&b, "source %s:%d", l.File, l.Line)
		if l.Function != "" {
			fmt.Fprintf(&b, " (%s)", l.Function)
		}
		b.WriteString("\n")
	}
	if len(a.Details) > 0 {
		j, err := json.MarshalIndent(a.Details, "", "  ")
		if err == nil {
			fmt.Fprintf(&b, "details %s\n", cut(string(j), 2000))
		}
	}
	return strings.TrimSpace(b.String())
}

func nodeProcText(node, proc string) string {
	if proc == "" {
		return "node " + node
	}
	return "node " + node + ", command " + proc
}
