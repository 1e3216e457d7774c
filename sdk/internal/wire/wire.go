// Package wire carries SDK messages to the mvrun runner: it picks the
// transport once from the environment, writes the version line first, sends
// each later line with a bounded write, and counts what it could not deliver.
//
// Every message is one JSON object on one line (the Antithesis SDK protocol
// plus mvrun's mvrun_sdk_lost line). Sends are synchronous: a line is on the
// channel when Send returns, so an assertion that fails right before the
// process crashes is not lost in a queue, lines keep the order in which they
// were sent, and under hv a message happens at the same point of the guest's
// execution in every replay. The SDK only sends the first passing and first
// failing evaluation of each assertion, so the volume is small and serializing
// senders on one mutex costs nothing on the hot path, which never gets here.
package wire

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Version is the SDK version written in the antithesis_sdk line.
const Version = "0.1.0"

// ProtocolVersion is the Antithesis SDK protocol version the lines follow.
const ProtocolVersion = "1.1.0"

// Environment variables that select the transport.
const (
	// EnvSDK selects the transport: "hv", "file:/path" or "unix:/path".
	EnvSDK = "MVRUN_SDK"
	// EnvAntithesisOutput is the Antithesis SDK's local output file; it is
	// honoured like "file:" when EnvSDK is unset.
	EnvAntithesisOutput = "ANTITHESIS_SDK_LOCAL_OUTPUT"
)

// UnixWriteTimeout bounds how long one send may block on a unix socket whose
// reader is not keeping up. A line that cannot be written within it is lost
// (and counted); a line cut in the middle breaks the channel.
const UnixWriteTimeout = time.Second

// writer is one transport. write sends exactly one line (p ends in '\n'
// except for hv, which takes the bare object). A *fatalError means the
// channel cannot carry anything any more; any other error loses that line.
type writer interface {
	write(p []byte) error
	close() error
}

// fatalError marks an error after which the channel is unusable.
type fatalError struct{ reason string }

func (e *fatalError) Error() string { return e.reason }

// channel is the transport chosen for this process plus its loss counters.
type channel struct {
	desc    string // "file:/x", for messages
	newline bool   // whether lines carry a trailing '\n'
	w       writer

	mu          sync.Mutex // serializes sends, so lines never interleave
	broken      bool       // after a fatal error; guarded by mu
	lost        uint64     // lines lost since the last mvrun_sdk_lost line; guarded by mu
	lostReason  string     // why the first of those was lost; guarded by mu
	lostTotal   atomic.Uint64
	warnedOnce  sync.Once
	stderr      io.Writer
	initFailure string // set when the transport could not be opened
	dropped     bool   // Drop was called; guarded by mu
}

var (
	setupOnce sync.Once
	active    atomic.Pointer[channel] // nil: no transport, every call is a no-op
	ready     atomic.Bool
)

// Enabled reports whether a transport is active. The first call picks it
// from the environment and sends the version line; later calls are one
// atomic load.
func Enabled() bool {
	if !ready.Load() {
		setup()
	}
	return active.Load() != nil
}

// Send sends one wire line (a JSON object, no trailing newline). It never
// panics and never blocks for longer than the transport's bound; a line it
// cannot deliver is counted as lost.
func Send(line []byte) {
	if !ready.Load() {
		setup()
	}
	if c := active.Load(); c != nil {
		c.send(line)
	}
}

// Drop counts one line the SDK chose not to send as lost, with reason. The
// first drop of a process is reported on the channel at once (an
// mvrun_sdk_lost line); later ones are added to the count the next
// successful send reports, so dropping costs no traffic.
func Drop(reason string) {
	c := active.Load()
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loseLocked(reason)
	if !c.broken && !c.dropped {
		c.dropped = true
		c.reportLostLocked()
	}
}

// Lost returns how many lines this process could not deliver so far.
func Lost() uint64 {
	if c := active.Load(); c != nil {
		return c.lostTotal.Load()
	}
	return 0
}

// Transport describes the active transport ("file:/path", "unix:/path",
// "hv"), or "" when every call is a no-op.
func Transport() string {
	if !ready.Load() {
		setup()
	}
	if c := active.Load(); c != nil {
		return c.desc
	}
	return ""
}

func setup() {
	setupOnce.Do(func() {
		c := open(os.Getenv, os.Stderr)
		if c != nil {
			active.Store(c)
			c.sendVersion()
		}
		ready.Store(true)
	})
}

// Reset closes the active transport and picks a new one with getenv, with
// warnings going to stderr. It exists for tests of the SDK's own packages; a
// service never calls it. It must not run concurrently with sends.
func Reset(getenv func(string) string, stderr io.Writer) {
	if c := active.Swap(nil); c != nil && c.w != nil {
		c.w.close()
	}
	setupOnce = sync.Once{}
	ready.Store(false)
	setupOnce.Do(func() {
		c := open(getenv, stderr)
		if c != nil {
			active.Store(c)
			c.sendVersion()
		}
		ready.Store(true)
	})
}

// open builds the channel the environment asks for, or nil for none. A
// transport that cannot be opened yields a broken channel, so the failure
// is reported on stderr and every line is counted as lost.
func open(getenv func(string) string, stderr io.Writer) *channel {
	spec := getenv(EnvSDK)
	if spec == "" {
		if p := getenv(EnvAntithesisOutput); p != "" {
			spec = "file:" + p
		}
	}
	if spec == "" {
		return nil
	}
	c := &channel{desc: spec, newline: true, stderr: stderr}
	var err error
	switch {
	case spec == "hv":
		c.newline = false
		c.w, err = openHV()
	case strings.HasPrefix(spec, "file:"):
		c.w, err = openFile(strings.TrimPrefix(spec, "file:"))
	case strings.HasPrefix(spec, "unix:"):
		c.w, err = openUnix(strings.TrimPrefix(spec, "unix:"))
	default:
		err = fmt.Errorf("%s=%q is not a transport: use hv, file:/path or unix:/path", EnvSDK, spec)
	}
	if err != nil {
		c.broken = true
		c.w = nil
		c.initFailure = err.Error()
		if !strings.Contains(c.initFailure, spec) {
			c.initFailure = spec + ": " + c.initFailure
		}
	}
	return c
}

func (c *channel) sendVersion() {
	b := make([]byte, 0, 128)
	b = append(b, `{"antithesis_sdk":{"language":{"name":"Go","version":`...)
	b = AppendString(b, runtime.Version())
	b = append(b, `},"protocol_version":"`+ProtocolVersion+`","sdk_version":"`+Version+`"}}`...)
	c.send(b)
}

func (c *channel) send(line []byte) {
	if c.newline {
		line = append(line[:len(line):len(line)], '\n')
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken {
		reason := c.initFailure
		if reason == "" {
			reason = c.lostReason
		}
		c.loseLocked(reason)
		return
	}
	err := c.w.write(line)
	if err == nil {
		if c.lost > 0 {
			c.reportLostLocked()
		}
		return
	}
	reason := c.desc + ": " + err.Error()
	if _, fatal := err.(*fatalError); fatal {
		c.broken = true
		c.w.close()
		c.lostReason = reason
	}
	c.loseLocked(reason)
	if !c.broken {
		// The channel still works: say right away what was lost.
		c.reportLostLocked()
	}
}

func (c *channel) loseLocked(reason string) {
	if c.lost == 0 || c.lostReason == "" {
		c.lostReason = reason
	}
	c.lost++
	c.lostTotal.Add(1)
	c.warnedOnce.Do(func() {
		fmt.Fprintf(c.stderr, "mvrun-sdk: lost an SDK message (later losses are counted, not printed): %s\n", reason)
	})
}

// reportLostLocked sends {"mvrun_sdk_lost":{"count":N,"reason":"..."}} for
// the lines lost since the last such line. Counts add up over a process.
func (c *channel) reportLostLocked() {
	b := make([]byte, 0, 96+len(c.lostReason))
	b = append(b, `{"mvrun_sdk_lost":{"count":`...)
	b = strconv.AppendUint(b, c.lost, 10)
	b = append(b, `,"reason":`...)
	b = AppendString(b, c.lostReason)
	b = append(b, "}}"...)
	if c.newline {
		b = append(b, '\n')
	}
	if err := c.w.write(b); err != nil {
		if _, fatal := err.(*fatalError); fatal {
			c.broken = true
			c.w.close()
		}
		return // keep the count; the next successful send retries
	}
	c.lost = 0
	c.lostReason = ""
}
