// Package sdkfile follows the SDK output files that backends give their
// nodes (MVRUN_SDK=file:… and ANTITHESIS_SDK_LOCAL_OUTPUT) and delivers each
// complete line as a [backend.EventSDK]. The process and docker backends
// share it.
package sdkfile

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mvrun/multiverse/runner/backend"
)

// PollInterval is how often a followed file is checked for new lines. Files
// are polled rather than watched: inotify does not see writes made through
// some bind mounts and storage drivers, and a stat every 20ms per file is
// negligible.
const PollInterval = 20 * time.Millisecond

// Tailer follows one SDK output file.
type Tailer struct {
	path       string
	node, proc string
	emit       func(backend.Event)

	mu     sync.Mutex // held while reading and delivering; see Hold
	off    int64
	buf    []byte // the current line so far, at most backend.MaxSDKLine bytes
	cut    int64  // bytes of the current line beyond buf (dropped)
	lineNo int

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// Follow starts following path, which may not exist yet. Lines are
// delivered to emit as events of node and proc ("" for the service itself,
// else the workload command's name), numbered from 1.
func Follow(path, node, proc string, emit func(backend.Event)) *Tailer {
	t := &Tailer{path: path, node: node, proc: proc, emit: emit,
		stop: make(chan struct{}), done: make(chan struct{})}
	go t.run()
	return t
}

func (t *Tailer) run() {
	defer close(t.done)
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			t.Poll(false)
		}
	}
}

// Hold stops delivery until the returned release is called. Backends hold
// a node's tailer across a (re)start so that no line of the new process is
// delivered before its node_start event.
func (t *Tailer) Hold() (release func()) {
	t.mu.Lock()
	return t.mu.Unlock
}

// Poll delivers the lines completed since the last poll. With flush, which
// callers use once the writer has exited, a last line without its newline
// is delivered too: the writer will not finish it.
func (t *Tailer) Poll(flush bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := os.Open(t.path)
	if err != nil {
		return // not written yet
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() < t.off {
		t.off, t.buf, t.cut = 0, nil, 0 // truncated by the writer: start over, keep numbering
	}
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return
	}
	// Read in chunks and keep at most one line's worth: a writer that
	// never writes a newline must not grow the buffer without end.
	chunk := make([]byte, 64<<10)
	for {
		n, err := f.Read(chunk)
		t.off += int64(n)
		t.scan(chunk[:n])
		if err != nil || n == 0 {
			break
		}
	}
	if flush && (len(t.buf) > 0 || t.cut > 0) {
		t.deliver(t.buf)
		t.buf = nil
	}
	if len(t.buf) == 0 {
		t.buf = nil // do not pin the read buffer
	}
}

// scan splits data into lines, delivering each complete one; the start of
// an unfinished line stays in t.buf, and past backend.MaxSDKLine bytes the
// rest of it is only counted.
func (t *Tailer) scan(data []byte) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		part := data
		if i >= 0 {
			part = data[:i]
		}
		room := backend.MaxSDKLine - len(t.buf)
		if len(part) > room {
			t.cut += int64(len(part) - room)
			part = part[:room]
		}
		t.buf = append(t.buf, part...)
		if i < 0 {
			return
		}
		t.deliver(t.buf)
		t.buf = t.buf[:0]
		data = data[i+1:]
	}
}

func (t *Tailer) deliver(line []byte) {
	t.lineNo++
	cut := t.cut
	t.cut = 0
	if cut > 0 {
		t.emit(backend.Event{Kind: backend.EventSDK, Node: t.node, Proc: t.proc,
			Line: bytes.Clone(line), LineNo: t.lineNo, Cut: int64(len(line)) + cut})
		return
	}
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	t.emit(backend.Event{Kind: backend.EventSDK, Node: t.node, Proc: t.proc,
		Line: bytes.Clone(line), LineNo: t.lineNo})
}

// Close stops polling and delivers everything left, including a last line
// without a newline. It is safe to call more than once.
func (t *Tailer) Close() {
	t.stopOnce.Do(func() { close(t.stop) })
	<-t.done
	t.Poll(true)
}

// Path is the file t follows.
func (t *Tailer) Path() string { return t.path }

// Path is where, under a seed's directory dir, the SDK output of a node's
// service process (name "") or of the workload command name run in it goes.
func Path(dir, service, name string) string {
	if name == "" {
		return filepath.Join(dir, "sdk", service+".jsonl")
	}
	return filepath.Join(dir, "sdk", service+"."+name+".jsonl")
}

// SetEnv points both the mvrun SDK (MVRUN_SDK) and the Antithesis SDKs
// (ANTITHESIS_SDK_LOCAL_OUTPUT) at file, a path as the process sees it, and
// tells the process its node (MVRUN_NODE).
func SetEnv(env map[string]string, service, file string) {
	env["MVRUN_SDK"] = "file:" + file
	env["ANTITHESIS_SDK_LOCAL_OUTPUT"] = file
	env["MVRUN_NODE"] = service
}
