package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
)

// infinity is the return time of an operation whose outcome is unknown: it
// may take effect at any point after its invocation.
const infinity = math.MaxInt64

// Model is a built-in sequential specification that histories are checked
// against. Every model partitions by key: operations on different keys are
// checked independently.
type Model struct {
	// Name is what a spec's check block says: "kv", "set" or "queue".
	Name string
	// Doc describes the model's operations in one line.
	Doc string
	// Ops lists the operation names (a line's f) the model knows.
	Ops []string
	// readOnly lists operations that change nothing; when their outcome
	// is unknown they are dropped.
	readOnly []string
	// convert turns an operation into porcupine's input and output.
	convert func(o *op) (in, out any, err error)
	porc    porcupine.Model
}

var models = []*Model{kvModel, setModel, queueModel}

// Models returns the names of the built-in models.
func Models() []string {
	names := make([]string, len(models))
	for i, m := range models {
		names[i] = m.Name
	}
	return names
}

// Lookup returns the built-in model called name, or an error naming the
// models there are.
func Lookup(name string) (*Model, error) {
	for _, m := range models {
		if m.Name == name {
			return m, nil
		}
	}
	return nil, fmt.Errorf("unknown model %q: want one of %s", name, strings.Join(Models(), ", "))
}

// canonical renders a JSON value in one canonical form (object keys sorted,
// no spaces, numbers as written), so that equal values compare equal as
// strings; absent is null.
func canonical(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "null", nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("value %s: %w", raw, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("value %s: %w", raw, err)
	}
	return string(b), nil
}

// canonicalList renders a JSON array's elements canonically.
func canonicalList(raw json.RawMessage, what string) ([]string, error) {
	var elems []json.RawMessage
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &elems); err != nil {
			return nil, fmt.Errorf("%s must be a JSON array, not %s", what, raw)
		}
	}
	out := make([]string, len(elems))
	for i, e := range elems {
		c, err := canonical(e)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// --- kv: a register per key ---------------------------------------------

// kvIn is the input of a kv operation: f is 'r', 'w' or 'c'.
type kvIn struct {
	f        byte
	v, old   string // write: v; cas: old -> v
	key      string
	describe string
}

// kvOut is the result of a kv operation: the value read (null when the key
// is absent) or, for a cas with unknown outcome, known=false.
type kvOut struct {
	known bool
	v     string
}

var kvModel = &Model{
	Name:     "kv",
	Doc:      "a register per key: read (ok value: the value, null when absent), write (value), cas (value [old, new]; ok when it swapped, fail when the compare did not match)",
	Ops:      []string{"read", "write", "cas"},
	readOnly: []string{"read"},
	convert: func(o *op) (any, any, error) {
		in := kvIn{key: o.key}
		out := kvOut{known: o.known}
		var err error
		switch o.f {
		case "read":
			in.f = 'r'
			if out.v, err = canonical(o.output); err != nil {
				return nil, nil, err
			}
			in.describe = fmt.Sprintf("read(%q)", o.key)
		case "write":
			in.f = 'w'
			if in.v, err = canonical(o.input); err != nil {
				return nil, nil, err
			}
			in.describe = fmt.Sprintf("write(%q, %s)", o.key, in.v)
		case "cas":
			in.f = 'c'
			l, err := canonicalList(o.input, "a cas's value")
			if err != nil {
				return nil, nil, err
			}
			if len(l) != 2 {
				return nil, nil, fmt.Errorf("a cas's value is [old, new], not %s", o.input)
			}
			in.old, in.v = l[0], l[1]
			in.describe = fmt.Sprintf("cas(%q, %s, %s)", o.key, in.old, in.v)
		}
		return in, out, nil
	},
	porc: porcupine.Model{
		Init: func() any { return "null" },
		Step: func(state, input, output any) (bool, any) {
			s, in, out := state.(string), input.(kvIn), output.(kvOut)
			switch in.f {
			case 'r':
				return out.v == s, s
			case 'w':
				return true, in.v
			}
			if !out.known { // cas with unknown outcome: swaps iff it matches
				if s == in.old {
					return true, in.v
				}
				return true, s
			}
			return s == in.old, in.v
		},
		DescribeOperation: func(input, output any) string {
			in, out := input.(kvIn), output.(kvOut)
			switch {
			case !out.known:
				return in.describe + " -> ?"
			case in.f == 'r':
				return in.describe + " -> " + out.v
			}
			return in.describe + " -> ok"
		},
		DescribeState: func(state any) string { return state.(string) },
	},
}

// --- set ----------------------------------------------------------------

// setIn is the input of a set operation: f is 'a' (add) or 'r' (read).
type setIn struct {
	f        byte
	v        string // add: the element
	describe string
}

// setOut is a read's result: the sorted canonical elements joined by
// newlines (canonical JSON never contains a raw newline).
type setOut struct{ v string }

var setModel = &Model{
	Name:     "set",
	Doc:      "a set per key: add (value: the element), read (ok value: every element, as an array)",
	Ops:      []string{"add", "read"},
	readOnly: []string{"read"},
	convert: func(o *op) (any, any, error) {
		switch o.f {
		case "add":
			v, err := canonical(o.input)
			if err != nil {
				return nil, nil, err
			}
			return setIn{f: 'a', v: v, describe: fmt.Sprintf("add(%s)", v)}, setOut{}, nil
		}
		l, err := canonicalList(o.output, "a set read's value")
		if err != nil {
			return nil, nil, err
		}
		slices.Sort(l)
		return setIn{f: 'r', describe: "read()"}, setOut{v: strings.Join(l, "\n")}, nil
	},
	porc: porcupine.Model{
		Init: func() any { return "" },
		Step: func(state, input, output any) (bool, any) {
			s, in := state.(string), input.(setIn)
			if in.f == 'r' {
				return output.(setOut).v == s, s
			}
			if s == "" {
				return true, in.v
			}
			elems := strings.Split(s, "\n")
			i, found := slices.BinarySearch(elems, in.v)
			if found {
				return true, s
			}
			return true, strings.Join(slices.Insert(elems, i, in.v), "\n")
		},
		DescribeOperation: func(input, output any) string {
			in := input.(setIn)
			if in.f == 'r' {
				return "read() -> {" + strings.ReplaceAll(output.(setOut).v, "\n", ", ") + "}"
			}
			return in.describe
		},
		DescribeState: func(state any) string { return "{" + strings.ReplaceAll(state.(string), "\n", ", ") + "}" },
	},
}

// --- queue --------------------------------------------------------------

// queueIn is the input of a queue operation: f is 'e' (enqueue) or 'd'
// (dequeue).
type queueIn struct {
	f byte
	v string // enqueue: the element
}

// queueOut is a dequeue's result: the element, or empty (null) for an empty
// queue; known=false for an unknown outcome.
type queueOut struct {
	known bool
	v     string
}

var queueModel = &Model{
	Name: "queue",
	Doc:  "a FIFO queue per key: enqueue (value: the element), dequeue (ok value: the element, null when the queue was empty)",
	Ops:  []string{"enqueue", "dequeue"},
	convert: func(o *op) (any, any, error) {
		if o.f == "enqueue" {
			v, err := canonical(o.input)
			if err != nil {
				return nil, nil, err
			}
			if v == "null" {
				return nil, nil, fmt.Errorf("enqueue(null): null is what a dequeue of an empty queue returns; enqueue another value")
			}
			return queueIn{f: 'e', v: v}, queueOut{}, nil
		}
		out := queueOut{known: o.known}
		if o.known {
			v, err := canonical(o.output)
			if err != nil {
				return nil, nil, err
			}
			if v != "null" {
				out.v = v
			}
		}
		return queueIn{f: 'd'}, out, nil
	},
	porc: porcupine.Model{
		Init: func() any { return "" },
		Step: func(state, input, output any) (bool, any) {
			s, in := state.(string), input.(queueIn)
			if in.f == 'e' {
				if s == "" {
					return true, in.v
				}
				return true, s + "\n" + in.v
			}
			out := output.(queueOut)
			head, tail, _ := strings.Cut(s, "\n")
			switch {
			case !out.known: // took the head, if there was one
				return true, tail
			case out.v == "":
				return s == "", s
			}
			return s != "" && head == out.v, tail
		},
		DescribeOperation: func(input, output any) string {
			in, out := input.(queueIn), output.(queueOut)
			switch {
			case in.f == 'e':
				return "enqueue(" + in.v + ")"
			case !out.known:
				return "dequeue() -> ?"
			case out.v == "":
				return "dequeue() -> empty"
			}
			return "dequeue() -> " + out.v
		},
		DescribeState: func(state any) string { return "[" + strings.ReplaceAll(state.(string), "\n", ", ") + "]" },
	},
}
