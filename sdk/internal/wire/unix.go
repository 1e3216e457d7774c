package wire

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// unixWriter writes lines to a Unix stream socket. A stream (rather than a
// datagram) socket has no per-message size limit and tells the SDK when the
// reader goes away; each line is one Write, bounded by UnixWriteTimeout.
type unixWriter struct {
	c net.Conn
}

func openUnix(path string) (*unixWriter, error) {
	if path == "" {
		return nil, errors.New("unix transport needs a socket path (unix:/path)")
	}
	c, err := net.DialTimeout("unix", path, UnixWriteTimeout)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to SDK socket: %w", err)
	}
	return &unixWriter{c: c}, nil
}

func (w *unixWriter) write(p []byte) error {
	w.c.SetWriteDeadline(time.Now().Add(UnixWriteTimeout))
	n, err := w.c.Write(p)
	if err == nil {
		return nil
	}
	var ne net.Error
	if n == 0 && errors.As(err, &ne) && ne.Timeout() {
		return errors.New("reader too slow: write timed out")
	}
	// A half-written line, a closed peer or any other failure leaves the
	// stream unusable.
	return &fatalError{reason: err.Error()}
}

func (w *unixWriter) close() error { return w.c.Close() }
