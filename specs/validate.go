package specs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Validate implements `mvrun validate spec.hcl`: it loads the spec at path
// and its compose projects. On success it prints one summary line per test
// to stdout and returns nil; otherwise it prints the diagnostics, with
// source excerpts, to stderr and returns the error [Load] returned (a
// [*DiagnosticsError] for a spec that does not decode). Warnings go to
// stderr either way. The command maps the error to its exit code.
func Validate(ctx context.Context, path string, stdout, stderr io.Writer) error {
	spec, err := Load(ctx, path)
	if err != nil {
		var de *DiagnosticsError
		if errors.As(err, &de) {
			if werr := de.WriteText(stderr, 100, false); werr == nil {
				return err
			}
		}
		fmt.Fprintln(stderr, err)
		return err
	}
	if spec.Warnings != nil {
		if err := spec.Warnings.WriteText(stderr, 100, false); err != nil {
			fmt.Fprintln(stderr, spec.Warnings)
		}
	}
	for _, t := range spec.Tests {
		fmt.Fprintln(stdout, Summary(path, t))
	}
	return nil
}

// Summary describes t in one line, as in
// `spec.hcl: test "bank": 3 services, 4 workload commands, faults: partition, kill`.
func Summary(path string, t *Test) string {
	services := 0
	if t.Project != nil {
		services = len(t.Project.Services)
	}
	fs := "none"
	if ks := faultKinds(t.Faults); len(ks) > 0 {
		fs = strings.Join(ks, ", ")
	}
	s := fmt.Sprintf("%s: test %q: %s, %s, faults: %s", path, t.Name,
		plural(services, "service"), plural(len(t.Workload), "workload command"), fs)
	if len(t.Checks) > 0 {
		cs := make([]string, len(t.Checks))
		for i, c := range t.Checks {
			cs[i] = fmt.Sprintf("%s (%s)", c.Name, c.Model)
		}
		s += ", history checks: " + strings.Join(cs, ", ")
	}
	return s
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
