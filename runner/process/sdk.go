package process

import (
	"bytes"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mvrun/multiverse/runner/backend"
)

// pollInterval is how often SDK files are checked for new lines.
const pollInterval = 20 * time.Millisecond

// tailer follows one SDK output file and delivers every complete line as an
// [backend.EventSDK]. It polls rather than using inotify: the files live on
// whatever file system the artifacts directory is on, and the cost of a
// stat every 20ms per file is negligible.
type tailer struct {
	path       string
	node, proc string
	emit       func(backend.Event)

	mu     sync.Mutex
	off    int64
	buf    []byte
	lineNo int

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

func newTailer(path, node, proc string, emit func(backend.Event)) *tailer {
	t := &tailer{path: path, node: node, proc: proc, emit: emit,
		stop: make(chan struct{}), done: make(chan struct{})}
	go t.run()
	return t
}

func (t *tailer) run() {
	defer close(t.done)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			t.poll(false)
		}
	}
}

// poll delivers the complete lines written since the last poll. With flush
// set, which callers use once the writer has exited, a trailing line without
// its newline is delivered too: the writer will not finish it.
func (t *tailer) poll(flush bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pollLocked(flush)
}

func (t *tailer) pollLocked(flush bool) {
	f, err := os.Open(t.path)
	if err != nil {
		return // not created yet
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() < t.off {
		// Truncated by the writer: start over, keep numbering.
		t.off, t.buf = 0, nil
	}
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return
	}
	data, err := io.ReadAll(f)
	if err != nil && len(data) == 0 {
		return
	}
	t.off += int64(len(data))
	t.buf = append(t.buf, data...)
	for {
		i := bytes.IndexByte(t.buf, '\n')
		if i < 0 {
			break
		}
		t.deliver(t.buf[:i])
		t.buf = t.buf[i+1:]
	}
	if flush && len(t.buf) > 0 {
		t.deliver(t.buf)
		t.buf = nil
	}
	if len(t.buf) == 0 {
		t.buf = nil
	}
}

func (t *tailer) deliver(line []byte) {
	t.lineNo++
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	t.emit(backend.Event{Kind: backend.EventSDK, Node: t.node, Proc: t.proc,
		Line: append([]byte(nil), line...), LineNo: t.lineNo})
}

// close stops polling and delivers everything that is left, including a
// final line without a newline.
func (t *tailer) close() {
	t.stopOnce.Do(func() { close(t.stop) })
	<-t.done
	t.poll(true)
}
