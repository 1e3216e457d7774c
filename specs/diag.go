package specs

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

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
// Past [MaxShownDiagnostics] it says how many more there are.
func (e *DiagnosticsError) Error() string {
	shown, more := e.shown()
	lines := make([]string, 0, len(shown)+1)
	for _, d := range shown {
		lines = append(lines, diagLine(d))
	}
	if more > 0 {
		lines = append(lines, moreText(more))
	}
	return strings.Join(lines, "\n")
}

// shown returns the diagnostics to print and how many are left out. A
// binary file fed to the parser yields thousands; the first few say it all.
func (e *DiagnosticsError) shown() (hcl.Diagnostics, int) {
	if len(e.Diags) <= MaxShownDiagnostics {
		return e.Diags, 0
	}
	return e.Diags[:MaxShownDiagnostics], len(e.Diags) - MaxShownDiagnostics
}

func moreText(n int) string {
	if n == 1 {
		return "… and 1 more diagnostic"
	}
	return fmt.Sprintf("… and %d more diagnostics", n)
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

// WriteText writes every diagnostic with a source excerpt, wrapped at width
// columns (0: no wrapping). With color, the offending text is highlighted
// with ANSI codes; without, a line of carets under the excerpt marks it.
// Past [MaxShownDiagnostics] it says how many more there are.
func (e *DiagnosticsError) WriteText(w io.Writer, width uint, color bool) error {
	shown, more := e.shown()
	tail := func() error {
		if more == 0 {
			return nil
		}
		_, err := io.WriteString(w, moreText(more)+"\n")
		return err
	}
	if color {
		if err := hcl.NewDiagnosticTextWriter(w, e.Files, width, color).WriteDiagnostics(shown); err != nil {
			return err
		}
		return tail()
	}
	for _, d := range shown {
		var b bytes.Buffer
		if err := hcl.NewDiagnosticTextWriter(&b, e.Files, width, false).WriteDiagnostic(d); err != nil {
			return err
		}
		out := b.String()
		if f := e.Files[subjectFile(d)]; f != nil && f.Bytes != nil {
			out = insertCarets(out, f.Bytes, *d.Subject)
		} else if d.Subject != nil {
			// A file refused before parsing (binary, too deep) has no
			// excerpt worth showing; the header line has its position.
			out = strings.Replace(out, fmt.Sprintf("\n  on %s line %d:\n  (source code not available)\n", d.Subject.Filename, d.Subject.Start.Line), "", 1)
		}
		out = positionHeader(d, out)
		if _, err := io.WriteString(w, out); err != nil {
			return err
		}
	}
	return tail()
}

func subjectFile(d *hcl.Diagnostic) string {
	if d.Subject == nil {
		return ""
	}
	return d.Subject.Filename
}

// insertCarets adds a line of carets under the excerpt line where r starts
// in a diagnostic rendered by hcl's text writer (which prints excerpt lines
// as "%4d: source").
func insertCarets(out string, src []byte, r hcl.Range) string {
	if r.Start.Byte < 0 || r.Start.Byte > len(src) {
		return out
	}
	prefix := fmt.Sprintf("%4d: ", r.Start.Line)
	i := strings.Index(out, "\n"+prefix)
	if i < 0 {
		return out
	}
	eol := strings.IndexByte(out[i+1:], '\n')
	if eol < 0 {
		return out
	}
	eol += i + 1
	lineStart := bytes.LastIndexByte(src[:r.Start.Byte], '\n') + 1
	lineEnd := len(src)
	if j := bytes.IndexByte(src[r.Start.Byte:], '\n'); j >= 0 {
		lineEnd = r.Start.Byte + j
	}
	end := min(max(r.End.Byte, r.Start.Byte), lineEnd)
	n := max(utf8.RuneCount(src[r.Start.Byte:end]), 1)
	var pad strings.Builder
	pad.WriteString(strings.Repeat(" ", len(prefix)))
	for _, c := range string(src[lineStart:r.Start.Byte]) {
		if c == '\t' {
			pad.WriteRune('\t')
		} else {
			pad.WriteRune(' ')
		}
	}
	return out[:eol+1] + pad.String() + strings.Repeat("^", n) + "\n" + out[eol+1:]
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

// positionHeader replaces the "Error: summary" line hcl's writer opens a
// diagnostic with by the compiler-style "file:line:col: error: summary",
// which editors and CI annotators recognise, keeping the excerpt below it.
func positionHeader(d *hcl.Diagnostic, out string) string {
	if d.Subject == nil {
		return out
	}
	sev := "error"
	if d.Severity == hcl.DiagWarning {
		sev = "warning"
	}
	first, rest, _ := strings.Cut(strings.TrimLeft(out, "\n"), "\n")
	if !strings.HasSuffix(first, d.Summary) {
		rest = first + "\n" + rest
	}
	s := d.Subject.Start
	return fmt.Sprintf("%s:%d:%d: %s: %s\n%s", d.Subject.Filename, s.Line, s.Column, sev, d.Summary, rest)
}
