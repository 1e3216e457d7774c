package specs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Bounds on what [Load] accepts. The HCL parser recurses once per nesting
// level and keeps every diagnostic it finds, so without them a small
// hostile file crashes mvrun with a stack overflow and a large one takes
// minutes and gigabytes. Real specs stay far below both limits.
const (
	// MaxSpecBytes is the largest spec file Load reads.
	MaxSpecBytes = 256 << 10
	// MaxComposeBytes is the largest compose file Load reads.
	MaxComposeBytes = 4 << 20
	// MaxNesting is how deeply brackets, braces, parentheses, templates and
	// unary operators may nest in a spec.
	MaxNesting = 64
	// MaxShownDiagnostics is how many diagnostics [DiagnosticsError] prints;
	// the rest are counted.
	MaxShownDiagnostics = 20
)

// readText reads a file the user named as a spec or compose file and
// refuses, with one diagnostic, what cannot be one: a file that cannot be
// read (with the reason), a directory or device, a file over limit bytes,
// or binary content. what names the file's role ("spec", "compose").
// at, when not nil, is where the diagnostic points when the file itself
// has no usable position (e.g. the spec's compose attribute).
func readText(path, what string, limit int64, at *hcl.Range) ([]byte, hcl.Diagnostics) {
	fail := func(rng *hcl.Range, summary, detail string, args ...any) ([]byte, hcl.Diagnostics) {
		d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(detail, args...), Subject: rng}
		return nil, hcl.Diagnostics{d}
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fail(at, "Cannot read "+what+" file", "%s does not exist.", path)
	case err != nil:
		return fail(at, "Cannot read "+what+" file", "%v.", err)
	case st.IsDir():
		return fail(at, "Cannot read "+what+" file", "%s is a directory; name the %s file inside it.", path, what)
	case !st.Mode().IsRegular():
		// A FIFO or device would block or never end.
		return fail(at, "Cannot read "+what+" file", "%s is not a regular file (mode %v).", path, st.Mode().Type())
	case st.Size() > limit:
		return fail(at, title(what)+" file too large", "%s is %d bytes; a %s file is short text, and mvrun reads at most %d bytes.", path, st.Size(), what, limit)
	}
	f, err := os.Open(path)
	if err != nil {
		return fail(at, "Cannot read "+what+" file", "%v.", err)
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return fail(at, "Cannot read "+what+" file", "%v.", err)
	}
	if int64(len(src)) > limit {
		return fail(at, title(what)+" file too large", "%s grew past %d bytes while being read.", path, limit)
	}
	if i := binaryAt(src); i >= 0 {
		rng := rangeAt(path, src, i)
		return fail(&rng, "Not a text file",
			"%s has a NUL byte or invalid UTF-8 at byte %d; it looks like a binary file, not a %s file.", path, i, what)
	}
	return src, nil
}

// title returns s with its first letter in upper case.
func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// binaryAt returns the offset of the first NUL byte or invalid UTF-8
// sequence in src, or -1 when src is text.
func binaryAt(src []byte) int {
	if i := bytes.IndexByte(src, 0); i >= 0 {
		if j := invalidUTF8(src[:i]); j >= 0 {
			return j
		}
		return i
	}
	return invalidUTF8(src)
}

func invalidUTF8(src []byte) int {
	for i := 0; i < len(src); {
		if src[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// rangeAt is the one-byte range at offset off of src.
func rangeAt(file string, src []byte, off int) hcl.Range {
	line := 1 + bytes.Count(src[:off], []byte{'\n'})
	col := 1 + utf8.RuneCount(src[bytes.LastIndexByte(src[:off], '\n')+1:off])
	p := hcl.Pos{Line: line, Column: col, Byte: off}
	return hcl.Range{Filename: file, Start: p, End: hcl.Pos{Line: line, Column: col + 1, Byte: off + 1}}
}

// checkNesting refuses an HCL source nested deeper than [MaxNesting]. It
// works on tokens, which hclsyntax's lexer produces without recursion, so
// it cannot itself run out of stack; parsing recurses per level.
func checkNesting(src []byte, file string) hcl.Diagnostics {
	toks, _ := hclsyntax.LexConfig(src, file, hcl.InitialPos)
	depth, unary := 0, 0
	for _, t := range toks {
		switch t.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen, hclsyntax.TokenOQuote,
			hclsyntax.TokenOHeredoc, hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			depth++
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenCQuote,
			hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
			depth = max(depth-1, 0)
		}
		// A run of ! or - parses as nested unary expressions.
		if t.Type == hclsyntax.TokenBang || t.Type == hclsyntax.TokenMinus {
			unary++
		} else {
			unary = 0
		}
		if depth+unary > MaxNesting {
			rng := t.Range
			return hcl.Diagnostics{diag(rng, "Nesting too deep",
				"Values nest more than %d levels deep here; a spec never needs that many, and mvrun refuses them rather than run out of stack.", MaxNesting)}
		}
	}
	return nil
}
