package wire

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD and
// U+2028/U+2029 are escaped, as encoding/json does, so any reader copes.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendFloat appends f as a JSON number, formatted like encoding/json.
// JSON has no NaN or infinities; they become the strings "NaN", "Infinity"
// and "-Infinity" (the Antithesis Go SDK's spelling since v0.9.0) so the
// value still reaches the report.
func AppendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// AppendValue appends v as JSON. Errors (that do not marshal themselves) are
// rendered with %+v, NaN and infinities as strings, maps and slices of any
// recursively; everything else goes through encoding/json. A value that
// cannot be encoded (a channel, a cycle, a panicking MarshalJSON) becomes an
// object {"mvrun_sdk_error": "..."} describing why, so the line is still sent.
func AppendValue(b []byte, v any) (out []byte) {
	mark := len(b)
	defer func() {
		if r := recover(); r != nil {
			out = appendEncodeError(b[:mark], fmt.Sprintf("panic while encoding details: %v", r))
		}
	}()
	enc, err := json.Marshal(normalize(v, 0))
	if err != nil {
		return appendEncodeError(b, "details cannot be encoded as JSON: "+err.Error())
	}
	return append(b, enc...)
}

func appendEncodeError(b []byte, msg string) []byte {
	b = append(b, `{"mvrun_sdk_error":`...)
	b = AppendString(b, msg)
	return append(b, '}')
}

// maxDepth bounds the recursion of normalize; deeper values are left to
// encoding/json, which reports cycles as an error.
const maxDepth = 64

// normalize replaces what encoding/json cannot or would not render usefully.
func normalize(v any, depth int) any {
	if depth > maxDepth {
		return v
	}
	switch x := v.(type) {
	case nil, string, bool, int, int64, int32, uint64, uint32, uint:
		return v
	case float64:
		return jsonFloat{x, 64}
	case float32:
		return jsonFloat{float64(x), 32}
	case json.Marshaler:
		return v
	case error:
		return fmt.Sprintf("%+v", x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e, depth+1)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e, depth+1)
		}
		return out
	}
	return v
}

// jsonFloat marshals a float, turning NaN and infinities into strings.
type jsonFloat struct {
	f    float64
	bits int
}

// MarshalJSON implements json.Marshaler.
func (f jsonFloat) MarshalJSON() ([]byte, error) {
	return AppendFloat(nil, f.f, f.bits), nil
}
