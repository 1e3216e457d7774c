package backend

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/mvrun/multiverse/faults"
)

// Support says which fault action kinds a backend carries out. Backends
// answer [Backend.Supports] with [Support.Check], and their clusters give
// the same answer for the kinds they cannot do, so the report counts one
// error text per kind.
type Support struct {
	// Backend is the backend's name, for the error about an unknown kind.
	Backend string
	// Can lists the kinds the backend carries out.
	Can []faults.ActionKind
	// Cannot maps the kinds the backend knows but cannot carry out (or not
	// as asked) to their error, which wraps [ErrUnsupported] and has a fixed
	// text: the report groups unsupported actions by it.
	Cannot map[faults.ActionKind]error
}

// Check returns nil for a kind in s.Can, the error in s.Cannot for a kind
// there, and an error wrapping [ErrUnsupported] for any other kind.
func (s Support) Check(k faults.ActionKind) error {
	if slices.Contains(s.Can, k) {
		return nil
	}
	if err, ok := s.Cannot[k]; ok {
		return err
	}
	return fmt.Errorf("%s: unknown action kind, %w on the %s backend", k, ErrUnsupported, s.Backend)
}

// RunIDLen is the length of a run id in hex digits. It is short because run
// ids are part of network device names, which Linux limits to 15 bytes.
const RunIDLen = 5

// NewRunID returns a short id for a run that is unique on this host among
// live runs. Backends put it on everything they create (process markers,
// device names, container labels) so that a later run's Sweep can find what
// a killed run left behind. It is not a seed: it never affects a run.
func NewRunID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(os.Getpid()))
	binary.LittleEndian.PutUint64(b[8:], uint64(time.Now().UnixNano()))
	h := sha256.Sum256(b[:])
	return fmt.Sprintf("%x", h[:3])[:RunIDLen]
}

// NetPrefix returns the name prefix of the network devices (and, on the
// process backend, namespaces) of the cluster with the given index: start
// (three letters naming the backend), the run id, and the index as two
// base-36 digits (modulo 36², far more clusters than ever run at once): 10
// characters, the most runner/network allows.
func NetPrefix(start, runID string, index int) string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	i := index % (36 * 36)
	if i < 0 {
		i += 36 * 36
	}
	return start + runID + string(digits[i/36]) + string(digits[i%36])
}

// EnvList turns an environment map into KEY=VALUE strings, sorted so that a
// process's environment does not depend on map order.
func EnvList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}

// Base is the part of a [Backend] that does not depend on how nodes run:
// its name, its run id and its answer to Supports. Backends embed it.
type Base struct {
	runID   string
	support Support
}

// NewBase returns the Base of a backend named support.Backend that carries
// out the kinds support lists, with a new run id.
func NewBase(support Support) Base {
	return Base{runID: NewRunID(), support: support}
}

// Name returns the backend's name.
func (b *Base) Name() string { return b.support.Backend }

// RunID returns the id of the run this backend belongs to (see [NewRunID]).
func (b *Base) RunID() string { return b.runID }

// Supports reports whether the backend carries out actions of kind k: nil,
// or an error wrapping [ErrUnsupported] that says why not.
func (b *Base) Supports(k faults.ActionKind) error { return b.support.Check(k) }

// Support returns what the backend carries out, for its clusters.
func (b *Base) Support() Support { return b.support }
