package specs

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// Compose problems are reported where they are: in the compose file, at the
// line of the key concerned, found from what compose-go's error says (a
// YAML line number, a dotted path such as services.kv1.ports, or a service
// name). compose-go keeps no positions, so this reads the YAML's lines;
// when nothing matches, the diagnostic points at the file's first line.

var (
	yamlLineRE    = regexp.MustCompile(`\bline (\d+)\b`)
	composePathRE = regexp.MustCompile(`\b(services(?:\.[A-Za-z0-9_-]+|\.\[\d+\])+)`)
	serviceNameRE = regexp.MustCompile(`\bservices? "([^"]+)"`)
)

// composeErrRange returns where in the compose file (file, holding src)
// the compose-go error text msg points.
func composeErrRange(file string, src []byte, msg string) hcl.Range {
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil {
			if r, ok := lineRange(file, src, n); ok {
				return r
			}
		}
	}
	if m := composePathRE.FindStringSubmatch(msg); m != nil {
		return yamlKeyRange(file, src, strings.Split(m[1], "."))
	}
	if m := serviceNameRE.FindStringSubmatch(msg); m != nil {
		return yamlKeyRange(file, src, []string{"services", m[1]})
	}
	r, _ := lineRange(file, src, 1)
	return r
}

// yamlKeyRange finds the line of the block-style YAML key at path (e.g.
// services, kv1, ports), descending by indentation; it stops at the
// deepest key it finds, and returns line 1 if it finds none.
func yamlKeyRange(file string, src []byte, path []string) hcl.Range {
	lines := bytes.Split(src, []byte{'\n'})
	found, parentIndent, from := 0, -1, 0
	for _, key := range path {
		if strings.HasPrefix(key, "[") {
			continue // a list index: stay at the key that holds the list
		}
		hit := -1
		for i := from; i < len(lines); i++ {
			l := lines[i]
			t := bytes.TrimLeft(l, " ")
			if len(t) == 0 || t[0] == '#' {
				continue
			}
			indent := len(l) - len(t)
			if indent <= parentIndent {
				break // left the parent's block
			}
			if isYAMLKey(t, key) {
				hit, parentIndent = i, indent
				break
			}
		}
		if hit < 0 {
			break
		}
		found, from = hit+1, hit+1
	}
	r, _ := lineRange(file, src, max(found, 1))
	return r
}

// isYAMLKey reports whether the trimmed line t starts the mapping key key,
// bare or quoted.
func isYAMLKey(t []byte, key string) bool {
	for _, k := range []string{key, `"` + key + `"`, `'` + key + `'`} {
		if rest, ok := bytes.CutPrefix(t, []byte(k)); ok && len(rest) > 0 && rest[0] == ':' {
			return true
		}
	}
	return false
}

// lineRange is the range of line n (1-based) of src, without its leading
// indentation; ok is false when src has no such line.
func lineRange(file string, src []byte, n int) (hcl.Range, bool) {
	start := 0
	for i := 1; i < n; i++ {
		j := bytes.IndexByte(src[start:], '\n')
		if j < 0 {
			return hcl.Range{Filename: file, Start: hcl.InitialPos, End: hcl.InitialPos}, false
		}
		start += j + 1
	}
	end := len(src)
	if j := bytes.IndexByte(src[start:], '\n'); j >= 0 {
		end = start + j
	}
	line := src[start:end]
	ind := len(line) - len(bytes.TrimLeft(line, " \t"))
	s := hcl.Pos{Line: n, Column: ind + 1, Byte: start + ind}
	e := hcl.Pos{Line: n, Column: 1 + utf8.RuneCount(line), Byte: end}
	if e.Byte <= s.Byte {
		e = hcl.Pos{Line: n, Column: s.Column + 1, Byte: s.Byte}
	}
	return hcl.Range{Filename: file, Start: s, End: e}, true
}
