package hvbackend

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mvrun/multiverse/hv"
	"github.com/mvrun/multiverse/hv/abi"
)

// StraceLook asks for the system calls of a node's processes between two
// virtual times, decided after the fact: the replay observes every call
// in the window as it returns (hv.Cluster.ObserveCalls), reading
// arguments without changing anything, so the run is the seed's.
type StraceLook struct {
	Service  string
	From, To time.Duration
}

// straceShown is how many lines of a trace the report shows; the file
// has them all.
const straceShown = 40

// strace wires m.Strace into c: observers turn the call observer on at
// From and off at To, writing one line per call to a file in the moment's
// directory.
func (c *cluster) strace(m *Moment, report func(string, bool)) {
	s := m.Strace
	file := filepath.Join(m.dir(c.cfg.Seed), "strace-"+s.Service+".txt")
	var f *os.File
	var w *bufio.Writer
	var shown []string
	calls := 0
	what := fmt.Sprintf("strace %s %v..%v", s.Service, s.From, s.To)
	finish := func(note string) {
		c.hc.ObserveCalls(nil)
		if f == nil {
			report(fmt.Sprintf("%s: %s", what, note), true)
			return
		}
		err := w.Flush()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		f = nil
		if err != nil {
			report(fmt.Sprintf("%s: %v", what, err), true)
			return
		}
		line := fmt.Sprintf("%s: %d system calls in %s%s", what, calls, file, note)
		if calls > len(shown) {
			line += fmt.Sprintf("; the first %d:", len(shown))
		}
		report(line+"\n  "+strings.Join(shown, "\n  "), false)
	}
	c.pending = append(c.pending, func() {
		if f != nil {
			finish(fmt.Sprintf(" (the seed ended at %v, before the window did)", c.hc.Now()))
		} else if !c.straceBegun {
			report(fmt.Sprintf("%s: the seed ended at %v, before the window", what, c.hc.Now()), true)
		}
	})
	c.hc.Observe(s.From, func() {
		c.straceBegun = true
		err := os.MkdirAll(filepath.Dir(file), 0o755)
		if err == nil {
			f, err = os.Create(file)
		}
		if err != nil {
			f = nil
			report(fmt.Sprintf("%s: cannot create %s: %v", what, file, err), true)
			return
		}
		w = bufio.NewWriter(f)
		c.hc.ObserveCalls(func(call hv.Call) {
			if call.Proc.Node().Name() != s.Service {
				return
			}
			calls++
			l := formatCall(c.hc.Now(), call)
			w.WriteString(l + "\n")
			if len(shown) < straceShown {
				shown = append(shown, l)
			}
		})
	})
	c.hc.Observe(s.To, func() {
		if f != nil {
			finish("")
		}
	})
}

// formatCall renders a system call as strace would, as far as hv can
// without guessing: the arguments of common calls decoded (paths, data
// written or read), the others in hex.
func formatCall(at time.Duration, call hv.Call) string {
	name := abi.SysName(call.Nr)
	a := call.Args
	str := func(va uint64, n int) string {
		shown := min(max(n, 0), 64)
		b := make([]byte, shown)
		call.Proc.Peek(b, va)
		return quoteBytes(b, shown < n)
	}
	path := func(va uint64) string {
		b := make([]byte, 256)
		call.Proc.Peek(b, va)
		if i := bytes.IndexByte(b, 0); i >= 0 {
			b = b[:i]
		}
		return strconv.Quote(string(b))
	}
	fd := func(v uint64) string { return strconv.Itoa(int(int32(v))) }
	ret := int64(call.Ret)
	var args string
	switch name {
	case "openat", "newfstatat", "unlinkat", "mkdirat", "faccessat", "faccessat2", "readlinkat":
		args = fmt.Sprintf("%s, %s, %#x", fd(a[0]), path(a[1]), a[2])
	case "open", "stat", "lstat", "unlink", "mkdir", "access", "chdir", "rmdir":
		args = fmt.Sprintf("%s, %#x", path(a[0]), a[1])
	case "renameat", "renameat2":
		args = fmt.Sprintf("%s, %s, %s, %s", fd(a[0]), path(a[1]), fd(a[2]), path(a[3]))
	case "write", "pwrite64", "sendto":
		args = fmt.Sprintf("%s, %s, %d", fd(a[0]), str(a[1], int(a[2])), a[2])
	case "read", "pread64", "recvfrom":
		data := "..."
		if !call.Blocked && ret >= 0 {
			data = str(a[1], int(ret))
		}
		args = fmt.Sprintf("%s, %s, %d", fd(a[0]), data, a[2])
	case "close", "fsync", "fdatasync", "dup", "listen":
		args = fd(a[0])
	case "connect", "bind", "accept", "accept4", "getsockname", "getpeername":
		args = fmt.Sprintf("%s, %#x, %d", fd(a[0]), a[1], a[2])
	case "futex":
		args = fmt.Sprintf("%#x, %d, %d, %#x", a[0], a[1], int32(a[2]), a[3])
	default:
		args = fmt.Sprintf("%#x, %#x, %#x, %#x, %#x, %#x", a[0], a[1], a[2], a[3], a[4], a[5])
	}
	var res string
	switch {
	case call.Exited:
		res = "? (the process exited)"
	case call.Blocked:
		res = "? <blocks; seen again when it retries>"
	case ret < 0 && ret >= -4095:
		res = "-1 " + abi.Errno(-ret).Error()
	default:
		res = strconv.FormatInt(ret, 10)
		if ret > 1<<20 || ret < 0 {
			res = fmt.Sprintf("%#x", call.Ret)
		}
	}
	return fmt.Sprintf("%12.6fs pid %d tid %d %s(%s) = %s", at.Seconds(), call.Proc.Pid(), call.TID, name, args, res)
}

// quoteBytes quotes data as strace does, with "..." when it was cut.
func quoteBytes(b []byte, cut bool) string {
	q := strconv.Quote(string(b))
	if cut {
		q += "..."
	}
	return q
}
