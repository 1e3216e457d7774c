package specs

import (
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// DiagnosticsError is what [Load] returns when a spec is invalid. It holds
// every problem found, each with the place in the spec it concerns, and the
// sources needed to print them with an excerpt.
type DiagnosticsError struct {
	Diags hcl.Diagnostics
	// Files maps file names (as they appear in the diagnostics' ranges) to
	// the parsed files, for source excerpts.
	Files map[string]*hcl.File
}

// Error returns one line per diagnostic: "file:line:col: summary; detail".
func (e *DiagnosticsError) Error() string {
	lines := make([]string, 0, len(e.Diags))
	for _, d := range e.Diags {
		lines = append(lines, diagLine(d))
	}
	return strings.Join(lines, "\n")
}

// diagLine renders one diagnostic on one line.
func diagLine(d *hcl.Diagnostic) string {
	var b strings.Builder
	if d.Subject != nil {
		fmt.Fprintf(&b, "%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
	}
	if d.Severity == hcl.DiagWarning {
		b.WriteString("warning: ")
	}
	b.WriteString(d.Summary)
	if d.Detail != "" {
		b.WriteString("; ")
		b.WriteString(strings.Join(strings.Fields(d.Detail), " "))
	}
	return b.String()
}

// WriteText writes every diagnostic with a source excerpt and a caret under
// the offending text, wrapped at width columns (0: no wrapping), with ANSI
// colours when color is set.
func (e *DiagnosticsError) WriteText(w io.Writer, width uint, color bool) error {
	return hcl.NewDiagnosticTextWriter(w, e.Files, width, color).WriteDiagnostics(e.Diags)
}

// Unwrap returns the individual diagnostics as errors, so errors.As can
// reach an *hcl.Diagnostic.
func (e *DiagnosticsError) Unwrap() []error {
	errs := make([]error, len(e.Diags))
	for i, d := range e.Diags {
		errs[i] = d
	}
	return errs
}

// diag builds an error diagnostic about rng.
func diag(rng hcl.Range, summary, detail string, args ...any) *hcl.Diagnostic {
	r := rng
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(detail, args...),
		Subject:  &r,
	}
}

// warn builds a warning diagnostic about rng.
func warn(rng hcl.Range, summary, detail string, args ...any) *hcl.Diagnostic {
	d := diag(rng, summary, detail, args...)
	d.Severity = hcl.DiagWarning
	return d
}

// warningsOnly returns the warnings among diags.
func warningsOnly(diags hcl.Diagnostics) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning {
			out = append(out, d)
		}
	}
	return out
}
