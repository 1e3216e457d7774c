// Package history records the operations a workload performs against the
// system under test, so that mvrun can check the history of all clients
// together against a model (linearizability, as Jepsen does), which no single
// process's assertions can.
//
// A client invokes an operation, then completes it with exactly one of Ok
// (it took effect, with this result), Fail (it certainly did not take
// effect) or Info (the outcome is unknown: a timeout, a lost connection).
// Getting that choice right is the whole contract: an operation that may
// have happened must never be reported as Fail, or the checker can reject a
// correct system.
//
//	h := history.NewClient("register")
//	op := h.Invoke("write", key, value)
//	if err := put(key, value); err != nil {
//		op.Info(err) // the write may have reached the leader
//	} else {
//		op.Ok(nil)
//	}
//
// Each call sends one line on the SDK's channel (file, unix socket or hv
// hypercall, as the assertions use), so histories need no file of their own
// and reach mvrun even from a process that is then killed. The line shape is
// documented in docs/sdk.md so that clients in any language can write it:
//
//	{"mvrun_history":{"history":"register","process":"812-1","op":3,"type":"invoke","f":"write","key":"k1","value":"v7","time":1732000000123456789}}
//
// time is the client's wall clock in nanoseconds since the Unix epoch
// (virtual under hv). Clients whose operations are checked together must read
// the same clock: run them on one node, or on nodes without clock skew.
// Outside an mvrun run every call is a no-op.
package history

import (
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mvrun/multiverse/sdk/internal/wire"
)

// Key is the top-level key of a history line.
const Key = "mvrun_history"

// Types of history lines.
const (
	TypeInvoke = "invoke" // the operation was started
	TypeOk     = "ok"     // it took effect; value is its result
	TypeFail   = "fail"   // it certainly did not take effect
	TypeInfo   = "info"   // its outcome is unknown
)

// clients numbers the clients of this process, so that process ids are
// unique within a node while the process lives.
var clients atomic.Int64

// now is the clock; tests replace it.
var now = func() int64 { return time.Now().UnixNano() }

// Client records the operations of one logical client (a Jepsen "process"):
// one operation at a time, each completed before the next is invoked. Use one
// Client per goroutine that issues operations concurrently with others.
type Client struct {
	history string
	process string
	mu      sync.Mutex
	next    int64
}

// NewClient returns a client that records into the history called name; a
// spec's check block names the history it checks. The client's process id
// is this process's pid and a counter, unique on the node while the process
// runs.
func NewClient(name string) *Client {
	n := clients.Add(1)
	return &Client{history: name, process: strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(n, 10)}
}

// NewClientProcess is [NewClient] with a process id chosen by the caller,
// for workloads that number their clients themselves. Ids must be unique
// among the clients of one node that run at the same time.
func NewClientProcess(name, process string) *Client {
	return &Client{history: name, process: process}
}

// Process returns the client's process id.
func (c *Client) Process() string { return c.process }

// Op is one invoked operation. Complete it with exactly one of Ok, Fail or
// Info; later completions are ignored.
type Op struct {
	c    *Client
	n    int64
	f    string
	key  string
	done atomic.Bool
}

// Invoke records the start of operation f on key with input value (nil for
// operations without input, such as a read). key partitions the history:
// operations on different keys are checked independently; use "" for a
// single object (a set, a queue). The value must encode as JSON.
func (c *Client) Invoke(f, key string, value any) *Op {
	c.mu.Lock()
	n := c.next
	c.next++
	c.mu.Unlock()
	op := &Op{c: c, n: n, f: f, key: key}
	if wire.Enabled() {
		send(c, n, TypeInvoke, f, key, value, nil, now())
	}
	return op
}

// Ok records that the operation took effect and returned value (the value
// read, for a read; nil when the operation returns nothing).
func (o *Op) Ok(value any) { o.complete(TypeOk, value, nil) }

// Fail records that the operation certainly did not take effect: the
// server refused it before acting. err says why (may be nil).
func (o *Op) Fail(err error) { o.complete(TypeFail, nil, err) }

// Info records that the operation's outcome is unknown: it may or may not
// have taken effect (a timeout, a connection lost mid-request). err says why
// (may be nil).
func (o *Op) Info(err error) { o.complete(TypeInfo, nil, err) }

func (o *Op) complete(typ string, value any, err error) {
	if o == nil || o.c == nil || o.done.Swap(true) || !wire.Enabled() {
		return
	}
	send(o.c, o.n, typ, o.f, o.key, value, err, now())
}

// send writes one history line.
func send(c *Client, n int64, typ, f, key string, value any, err error, t int64) {
	b := make([]byte, 0, 160)
	b = append(b, `{"`+Key+`":{"history":`...)
	b = wire.AppendString(b, c.history)
	b = append(b, `,"process":`...)
	b = wire.AppendString(b, c.process)
	b = append(b, `,"op":`...)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, `,"type":"`...)
	b = append(b, typ...)
	b = append(b, `","f":`...)
	b = wire.AppendString(b, f)
	if key != "" {
		b = append(b, `,"key":`...)
		b = wire.AppendString(b, key)
	}
	if value != nil {
		b = append(b, `,"value":`...)
		b = wire.AppendValue(b, value)
	}
	if err != nil {
		b = append(b, `,"error":`...)
		b = wire.AppendString(b, err.Error())
	}
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, "}}"...)
	wire.Send(b)
}
