package docker

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

// tailer follows one SDK output file, which a container writes through a
// bind mount, and delivers each complete line as an [backend.EventSDK].
// It polls: inotify does not see writes made through some bind mounts and
// storage drivers, and a stat every 20ms per file costs nothing.
type tailer struct {
	path       string
	node, proc string
	emit       func(backend.Event)

	// mu is held while reading and delivering; Start holds it across a
	// container start so no line precedes the node_start event.
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

// poll delivers the lines completed since the last poll; with flush, also
// a last line without its newline (the writer has exited and will not end
// it).
func (t *tailer) poll(flush bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pollLocked(flush)
}

func (t *tailer) pollLocked(flush bool) {
	f, err := os.Open(t.path)
	if err != nil {
		return // not written yet
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() < t.off {
		t.off, t.buf = 0, nil // truncated: start over, keep numbering
	}
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return
	}
	data, _ := io.ReadAll(f)
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
}

func (t *tailer) deliver(line []byte) {
	t.lineNo++
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	t.emit(backend.Event{Kind: backend.EventSDK, Node: t.node, Proc: t.proc,
		Line: bytes.Clone(line), LineNo: t.lineNo})
}

// close stops polling and delivers everything left, including a last line
// without a newline.
func (t *tailer) close() {
	t.stopOnce.Do(func() { close(t.stop) })
	<-t.done
	t.poll(true)
}
