package wire

import (
	"errors"

	"github.com/mvrun/multiverse/sdk/hypercall"
)

// hvWriter sends each line with the hv hypercall (see package hypercall).
type hvWriter struct{}

func openHV() (hvWriter, error) {
	if !hypercall.Available {
		return hvWriter{}, hypercall.ErrUnavailable
	}
	return hvWriter{}, nil
}

func (hvWriter) write(p []byte) error {
	if len(p) > hypercall.MaxLen {
		return errors.New("line longer than the hypercall limit")
	}
	err := hypercall.Send(hypercall.OpEmit, p)
	switch {
	case err == nil:
		return nil
	case hypercall.NotUnderHV(err):
		return &fatalError{reason: "not running under hv (hypercall: " + err.Error() + ")"}
	default:
		return err
	}
}

func (hvWriter) close() error { return nil }
