package assert

import (
	"math"
	"strconv"

	"github.com/mvrun/multiverse/sdk/internal/wire"
)

// Number is the set of operand types of the numeric assertions.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~float32 | ~float64 | ~uint64 | ~uint | ~uintptr
}

// Guidance behaviours, as NumericGuidanceRaw and BooleanGuidanceRaw take them.
const (
	behaviorMaximize = "maximize"
	behaviorMinimize = "minimize"
	behaviorAll      = "all"
	behaviorNone     = "none"
)

// numClass tells how to do arithmetic on a Number type without reflection;
// the checks work for named types too (type Balance int64).
func numClass[T Number]() (isFloat, signed bool) {
	var one T = 1
	var zero T
	return one/2 != 0, zero-one < zero
}

// gapKey returns left-right as an ordered int64 key: saturated for integers,
// the order-preserving bit pattern for floats. ok is false for NaN.
func gapKey[T Number](left, right T) (gapKind, int64, bool) {
	isFloat, signed := numClass[T]()
	switch {
	case isFloat:
		d := float64(left) - float64(right)
		if d != d {
			return gapFloat, 0, false
		}
		bits := math.Float64bits(d)
		if bits>>63 == 1 {
			bits = ^bits
		} else {
			bits |= 1 << 63
		}
		return gapFloat, int64(bits ^ 1<<63), true
	case signed:
		l, r := int64(left), int64(right)
		d := l - r
		if r > 0 && d > l {
			d = math.MinInt64
		} else if r < 0 && d < l {
			d = math.MaxInt64
		}
		return gapInt, d, true
	default:
		l, r := uint64(left), uint64(right)
		if l >= r {
			return gapInt, int64(min(l-r, math.MaxInt64)), true
		}
		return gapInt, -int64(min(r-l, math.MaxInt64)), true
	}
}

func appendNumber[T Number](b []byte, v T) []byte {
	isFloat, signed := numClass[T]()
	switch {
	case isFloat:
		return wire.AppendFloat(b, float64(v), 64)
	case signed:
		return strconv.AppendInt(b, int64(v), 10)
	default:
		return strconv.AppendUint(b, uint64(v), 10)
	}
}

func numericData[T Number](left, right T) []byte {
	b := make([]byte, 0, 64)
	b = append(b, `{"left":`...)
	b = appendNumber(b, left)
	b = append(b, `,"right":`...)
	b = appendNumber(b, right)
	return append(b, '}')
}

// numericSettled reports whether an evaluation has nothing to send: its
// outcome was sent and its gap does not improve the guidance. It is the whole
// hot path of the numeric assertions.
func numericSettled[T Number](left, right T, message string, condition bool) bool {
	e := lookup(message)
	if e == nil || !e.sent(condition) {
		return false
	}
	kind, key, ok := gapKey(left, right)
	return !ok || !e.wouldImprove(kind, key)
}

// numeric is the slow path of the numeric assertions.
//
//go:noinline
func numeric[T Number](left, right T, condition bool, message string, details map[string]any, assertType string, maximize bool) {
	kind, key, ok := gapKey(left, right)
	e := entryFor(message, kind, maximize)
	var loc *location
	if e.claim(condition) {
		l := callerLocation(2)
		loc = &l
		all := make(map[string]any, len(details)+2)
		for k, v := range details {
			all[k] = v
		}
		all["left"] = left
		all["right"] = right
		display := alwaysDisplay
		if assertType == existentialTest {
			display = sometimesDisplay
		}
		a := assertLine{
			id: message, message: message,
			condition: condition, hit: true, mustHit: true,
			assertType: assertType, displayType: display,
			loc: l, details: all,
		}
		a.send()
	}
	if ok && e.improve(kind, key) {
		if loc == nil {
			l := callerLocation(2)
			loc = &l
		}
		g := guidanceLine{
			id: message, message: message, guidanceType: "numeric",
			maximize: maximize, hit: true, data: numericData(left, right), loc: *loc,
		}
		g.send()
	}
}

// AlwaysGreaterThan is Always(left > right, message, details), with left and
// right added to details and guidance that steers exploration towards the
// smallest left-right (the edge of failure).
func AlwaysGreaterThan[T Number](left, right T, message string, details map[string]any) {
	if !wire.Enabled() || numericSettled(left, right, message, left > right) {
		return
	}
	numeric(left, right, left > right, message, details, universalTest, false)
}

// AlwaysGreaterThanOrEqualTo is Always(left >= right, message, details), with
// left and right added to details and numeric guidance.
func AlwaysGreaterThanOrEqualTo[T Number](left, right T, message string, details map[string]any) {
	if !wire.Enabled() || numericSettled(left, right, message, left >= right) {
		return
	}
	numeric(left, right, left >= right, message, details, universalTest, false)
}

// AlwaysLessThan is Always(left < right, message, details), with left and
// right added to details and numeric guidance.
func AlwaysLessThan[T Number](left, right T, message string, details map[string]any) {
	if !wire.Enabled() || numericSettled(left, right, message, left < right) {
		return
	}
	numeric(left, right, left < right, message, details, universalTest, true)
}

// AlwaysLessThanOrEqualTo is Always(left <= right, message, details), with
// left and right added to details and numeric guidance.
func AlwaysLessThanOrEqualTo[T Number](left, right T, message string, details map[string]any) {
	if !wire.Enabled() || numericSettled(left, right, message, left <= right) {
		return
	}
	numeric(left, right, left <= right, message, details, universalTest, true)
}

// SometimesGreaterThan is Sometimes(left > right, message, details), with
// left and right added to details and numeric guidance.
func SometimesGreaterThan[T Number](left, right T, message string, details map[string]any) {
	if !wire.Enabled() || numericSettled(left, right, message, left > right) {
		return
	}
	numeric(left, right, left > right, message, details, existentialTest, true)
}

// SometimesGreaterThanOrEqualTo is Sometimes(left >= right, message,
// details), with left and right added to details and numeric guidance.
func SometimesGreaterThanOrEqualTo[T Number](left, right T, message string, details map[string]any) {
	if !wire.Enabled() || numericSettled(left, right, message, left >= right) {
		return
	}
	numeric(left, right, left >= right, message, details, existentialTest, true)
}

// SometimesLessThan is Sometimes(left < right, message, details), with left
// and right added to details and numeric guidance.
func SometimesLessThan[T Number](left, right T, message string, details map[string]any) {
	if !wire.Enabled() || numericSettled(left, right, message, left < right) {
		return
	}
	numeric(left, right, left < right, message, details, existentialTest, false)
}

// SometimesLessThanOrEqualTo is Sometimes(left <= right, message, details),
// with left and right added to details and numeric guidance.
func SometimesLessThanOrEqualTo[T Number](left, right T, message string, details map[string]any) {
	if !wire.Enabled() || numericSettled(left, right, message, left <= right) {
		return
	}
	numeric(left, right, left <= right, message, details, existentialTest, false)
}

// NumericGuidanceRaw sends numeric guidance with every field given
// explicitly; behavior is "maximize" or "minimize". It is the entry point for
// generated code (catalog registrations pass hit=false) and frameworks. With
// hit=true a line is sent only when left-right improves on the best so far.
func NumericGuidanceRaw[T Number](
	left, right T,
	message, id string,
	classname, funcname, filename string,
	line int, column int,
	behavior string,
	hit bool,
) {
	if !wire.Enabled() {
		return
	}
	maximize := behavior == behaviorMaximize || behavior == behaviorAll
	if hit {
		kind, key, ok := gapKey(left, right)
		if !ok || !entryFor(id, kind, maximize).improve(kind, key) {
			return
		}
	}
	g := guidanceLine{
		id: id, message: message, guidanceType: guidanceType(behavior),
		maximize: maximize, hit: hit,
		loc: location{class: classname, function: funcname, file: filename, line: line, column: column},
	}
	if hit {
		g.data = numericData(left, right)
	}
	g.send()
}

func guidanceType(behavior string) string {
	switch behavior {
	case behaviorMaximize, behaviorMinimize:
		return "numeric"
	case behaviorAll, behaviorNone:
		return "boolean"
	}
	return "json"
}
