package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"testing"

	"github.com/mvrun/multiverse/hv/hvcli"
	"github.com/mvrun/multiverse/internal/catalog"
)

// TestExitTable pins how the errors the libraries return become exit
// codes: only this command decides them.
func TestExitTable(t *testing.T) {
	t.Parallel()
	catalogs := []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{flag.ErrHelp, exitOK},
		{fmt.Errorf("%w: -x", catalog.ErrUsage), exitUsage},
		{fmt.Errorf("%w matches ./lib", catalog.ErrNoMain), exitUsage},
		{&catalog.SourceError{Errs: []string{"main.go:3:4: not a constant"}}, exitUsage},
		{errors.New("go list: exit status 1"), exitInfra},
	}
	for _, tt := range catalogs {
		if got := exitCatalog(tt.err); got != tt.want {
			t.Errorf("exitCatalog(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
	hvs := []struct {
		guest int
		err   error
		want  int
	}{
		{7, nil, 7},
		{0, flag.ErrHelp, exitOK},
		{0, fmt.Errorf("%w: no binary", hvcli.ErrUsage), exitUsage},
		{0, errors.New("KVM_CREATE_VM: permission denied"), exitInfra},
	}
	for _, tt := range hvs {
		if got := exitHV(tt.guest, tt.err, io.Discard); got != tt.want {
			t.Errorf("exitHV(%d, %v) = %d, want %d", tt.guest, tt.err, got, tt.want)
		}
	}
}
