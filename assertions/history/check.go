package history

import (
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdict is the outcome of checking a history.
type Verdict string

// Verdicts.
const (
	// Linearizable: every key's operations have a linearization.
	Linearizable Verdict = "linearizable"
	// Illegal: some key's operations have none; the history is a
	// counterexample.
	Illegal Verdict = "illegal"
	// Unknown: the timeout ran out before every key was decided and no key
	// was found illegal. It is never a pass.
	Unknown Verdict = "unknown"
)

// DefaultTimeout bounds a check when the spec sets no timeout.
const DefaultTimeout = 30 * time.Second

// Result is what checking one history found.
type Result struct {
	History string
	Model   string
	Verdict Verdict
	// Ops counts the operations checked; Unknown those among them whose
	// outcome is unknown; Failed the failed ones (dropped); Keys the
	// partitions.
	Ops, Unknown, Failed, Keys int
	// IllegalKeys and UndecidedKeys count the keys found illegal and the
	// keys the timeout left undecided.
	IllegalKeys, UndecidedKeys int
	// Key is the first illegal key (in sorted order), or, for an Unknown
	// verdict, the first undecided one.
	Key     string
	Elapsed time.Duration
	Timeout time.Duration

	model *Model
	// keyOps are the operations of Key, for the visualization.
	keyOps []porcupine.Operation
}

// Reason says in one line what the verdict means.
func (r *Result) Reason() string {
	switch r.Verdict {
	case Illegal:
		return fmt.Sprintf("history %q is not linearizable (model %s): no order of the %d operations on key %q explains their results (%d of %d keys illegal)",
			r.History, r.Model, r.keyLen(), r.Key, r.IllegalKeys, r.Keys)
	case Unknown:
		return fmt.Sprintf("history %q (model %s): undecided after the %v timeout: %d of %d keys not checked in time (first %q); raise the check's timeout",
			r.History, r.Model, r.Timeout, r.UndecidedKeys, r.Keys, r.Key)
	}
	return fmt.Sprintf("history %q is linearizable (model %s): %d operations on %d keys", r.History, r.Model, r.Ops, r.Keys)
}

func (r *Result) keyLen() int { return len(r.keyOps) }

// Details returns the result as report details.
func (r *Result) Details() map[string]any {
	d := map[string]any{
		"history": r.History, "model": r.Model, "verdict": string(r.Verdict),
		"operations": r.Ops, "unknown_outcome": r.Unknown, "failed": r.Failed, "keys": r.Keys,
		"elapsed": r.Elapsed.Round(time.Millisecond).String(),
	}
	switch r.Verdict {
	case Illegal:
		d["key"], d["illegal_keys"], d["key_operations"] = r.Key, r.IllegalKeys, len(r.keyOps)
	case Unknown:
		d["key"], d["undecided_keys"], d["timeout"] = r.Key, r.UndecidedKeys, r.Timeout.String()
	}
	return d
}

// Visualize writes porcupine's interactive visualization (an HTML page) of
// the operations on Key: the longest linearizations found and where they
// break. It is only available for an Illegal verdict. timeout bounds the
// search it repeats to find them.
func (r *Result) Visualize(w io.Writer, timeout time.Duration) error {
	if r.Verdict != Illegal || r.model == nil {
		return fmt.Errorf("no visualization: history %q is %s", r.History, r.Verdict)
	}
	_, info := porcupine.CheckOperationsVerbose(r.model.porc, r.keyOps, timeout)
	return porcupine.Visualize(r.model.porc, info, w)
}

// Check checks history h against model m, spending at most timeout (0
// means [DefaultTimeout]). The keys are checked in parallel. It returns an
// error when the history cannot be turned into operations: a completion
// without invocation, an operation the model does not know, a value of the
// wrong shape. Such a history proves nothing, so callers must not treat the
// error as a pass.
func Check(h *History, m *Model, timeout time.Duration) (*Result, error) {
	start := time.Now()
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	r := &Result{History: h.Name, Model: m.Name, Timeout: timeout, model: m}
	ops, failed, err := h.ops()
	if err != nil {
		return nil, err
	}
	r.Failed = failed
	clients := map[string]int{}
	for _, o := range ops {
		clients[o.client] = 0
	}
	for i, c := range slices.Sorted(maps.Keys(clients)) {
		clients[c] = i
	}
	byKey := map[string][]porcupine.Operation{}
	for i := range ops {
		o := &ops[i]
		if !slices.Contains(m.Ops, o.f) {
			return nil, fmt.Errorf("%s: model %s has no operation %q (it has %v)", o.invoke, m.Name, o.f, m.Ops)
		}
		if !o.known && slices.Contains(m.readOnly, o.f) {
			continue // an unknown read changes nothing
		}
		in, out, err := m.convert(o)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", o.invoke, o.f, err)
		}
		if !o.known {
			r.Unknown++
		}
		r.Ops++
		byKey[o.key] = append(byKey[o.key], porcupine.Operation{
			ClientId: clients[o.client], Input: in, Output: out, Call: o.call, Return: o.ret, Metadata: o.describe(),
		})
	}
	keys := slices.Sorted(maps.Keys(byKey))
	r.Keys = len(keys)
	verdicts := make([]porcupine.CheckResult, len(keys))
	deadline := start.Add(timeout)
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), max(len(keys), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				left := time.Until(deadline)
				if left <= 0 {
					verdicts[i] = porcupine.Unknown
					continue
				}
				verdicts[i] = porcupine.CheckOperationsTimeout(m.porc, byKey[keys[i]], left)
			}
		}()
	}
	for i := range keys {
		next <- i
	}
	close(next)
	wg.Wait()
	r.Verdict = Linearizable
	undecided := ""
	for i, k := range keys {
		switch verdicts[i] {
		case porcupine.Illegal:
			if r.IllegalKeys == 0 {
				r.Key, r.keyOps = k, byKey[k]
			}
			r.IllegalKeys++
		case porcupine.Unknown:
			if r.UndecidedKeys == 0 {
				undecided = k
			}
			r.UndecidedKeys++
		}
	}
	switch {
	case r.IllegalKeys > 0:
		// A violation found is definitive, whatever the timeout left open.
		r.Verdict = Illegal
	case r.UndecidedKeys > 0:
		r.Verdict, r.Key = Unknown, undecided
	}
	r.Elapsed = time.Since(start)
	return r, nil
}
