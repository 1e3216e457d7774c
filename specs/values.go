package specs

import (
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"

	"github.com/mvrun/multiverse/faults"
)

// Attribute decoders. Each appends its diagnostics to *diags and reports
// whether the value is usable; expressions are evaluated without variables
// or functions, so a spec is plain data.

func decodeString(a *hcl.Attribute, diags *hcl.Diagnostics) (string, bool) {
	var s string
	d := gohcl.DecodeExpression(a.Expr, nil, &s)
	*diags = append(*diags, d...)
	return s, !d.HasErrors()
}

func decodeStrings(a *hcl.Attribute, diags *hcl.Diagnostics) ([]string, bool) {
	var s []string
	d := gohcl.DecodeExpression(a.Expr, nil, &s)
	*diags = append(*diags, d...)
	return s, !d.HasErrors()
}

func decodeStringMap(a *hcl.Attribute, diags *hcl.Diagnostics) (map[string]string, bool) {
	var m map[string]string
	d := gohcl.DecodeExpression(a.Expr, nil, &m)
	*diags = append(*diags, d...)
	return m, !d.HasErrors()
}

func decodeBool(a *hcl.Attribute, diags *hcl.Diagnostics) (bool, bool) {
	var b bool
	d := gohcl.DecodeExpression(a.Expr, nil, &b)
	*diags = append(*diags, d...)
	return b, !d.HasErrors()
}

// decodeInt reads a whole number of at least min.
func decodeInt(a *hcl.Attribute, min int, diags *hcl.Diagnostics) (int, bool) {
	var n int
	d := gohcl.DecodeExpression(a.Expr, nil, &n)
	*diags = append(*diags, d...)
	if d.HasErrors() {
		return 0, false
	}
	if n < min {
		*diags = append(*diags, diag(a.Expr.Range(), "Invalid "+a.Name,
			"%s must be at least %d; it is %d.", a.Name, min, n))
		return 0, false
	}
	return n, true
}

// decodeProbability reads a number in 0..1.
func decodeProbability(a *hcl.Attribute, diags *hcl.Diagnostics) (float64, bool) {
	var p float64
	d := gohcl.DecodeExpression(a.Expr, nil, &p)
	*diags = append(*diags, d...)
	if d.HasErrors() {
		return 0, false
	}
	if !(p >= 0 && p <= 1) {
		*diags = append(*diags, diag(a.Expr.Range(), "Probability out of range",
			"%s is a probability and must be between 0 and 1 (0.05 means 5%%); it is %g.", a.Name, p))
		return 0, false
	}
	return p, true
}

// decodeDuration reads a Go duration string such as "30s". With positive
// set, zero is rejected too.
func decodeDuration(a *hcl.Attribute, positive bool, diags *hcl.Diagnostics) (time.Duration, bool) {
	s, ok := decodeString(a, diags)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		*diags = append(*diags, diag(a.Expr.Range(), "Invalid duration",
			"%s must be a Go duration such as \"30s\", \"500ms\" or \"1m30s\"; %q is not one.", a.Name, s))
		return 0, false
	}
	if d < 0 || (positive && d == 0) {
		want := "zero or more"
		if positive {
			want = "more than zero"
		}
		*diags = append(*diags, diag(a.Expr.Range(), "Invalid duration",
			"%s must be %s; it is %s.", a.Name, want, d))
		return 0, false
	}
	return d, true
}

// decodeRange reads a duration range "1s..8s" or a single duration "5s".
// With positive set, "0s" is rejected.
func decodeRange(a *hcl.Attribute, positive bool, diags *hcl.Diagnostics) (faults.Range, bool) {
	s, ok := decodeString(a, diags)
	if !ok {
		return faults.Range{}, false
	}
	r, detail := parseRange(s)
	if detail == "" && positive && r.Max == 0 {
		detail = "must be longer than zero, as in \"1s..8s\"."
	}
	if detail != "" {
		*diags = append(*diags, diag(a.Expr.Range(), "Invalid duration range",
			"%s: %s", a.Name, detail))
		return faults.Range{}, false
	}
	return r, true
}

// parseRange parses "A..B" or "A"; on failure it returns a sentence saying
// what is wrong.
func parseRange(s string) (faults.Range, string) {
	lo, hi, two := strings.Cut(strings.TrimSpace(s), "..")
	min, err := time.ParseDuration(strings.TrimSpace(lo))
	if err != nil {
		return faults.Range{}, "want a duration such as \"5s\" or a range such as \"1s..8s\"; " + quote(s) + " is neither."
	}
	max := min
	if two {
		if max, err = time.ParseDuration(strings.TrimSpace(hi)); err != nil {
			return faults.Range{}, "want a duration such as \"5s\" or a range such as \"1s..8s\"; " + quote(s) + " is neither."
		}
	}
	if min < 0 {
		return faults.Range{}, "durations cannot be negative; " + quote(s) + " starts below zero."
	}
	if max < min {
		return faults.Range{}, "the lower bound " + min.String() + " is above the upper bound " + max.String() +
			"; write the smaller duration first, as in \"" + max.String() + ".." + min.String() + "\"."
	}
	return faults.Range{Min: min, Max: max}, ""
}

func quote(s string) string { return "\"" + s + "\"" }
