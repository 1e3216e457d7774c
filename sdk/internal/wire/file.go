package wire

import (
	"errors"
	"fmt"
	"os"
)

// fileWriter appends lines to a file opened with O_APPEND, one write(2) per
// line, so lines from several processes (or from the Antithesis SDK in the
// same process) never interleave. Before each write it checks that the path
// still names the file it opened: writing on into a deleted or replaced file
// would lose lines without anyone noticing.
type fileWriter struct {
	path string
	f    *os.File
	fi   os.FileInfo
}

func openFile(path string) (*fileWriter, error) {
	if path == "" {
		return nil, errors.New("file transport needs a path (file:/path)")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open SDK output: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot stat SDK output: %w", err)
	}
	return &fileWriter{path: path, f: f, fi: fi}, nil
}

func (w *fileWriter) write(p []byte) error {
	now, err := os.Stat(w.path)
	if err != nil || !os.SameFile(now, w.fi) {
		return &fatalError{reason: "output file was removed or replaced"}
	}
	n, err := w.f.Write(p)
	if err != nil {
		if n > 0 {
			return &fatalError{reason: "short write: " + err.Error()}
		}
		return err
	}
	return nil
}

func (w *fileWriter) close() error { return w.f.Close() }
