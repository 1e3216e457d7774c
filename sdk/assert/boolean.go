package assert

import "github.com/mvrun/multiverse/sdk/internal/wire"

// NamedBool is one named boolean of [AlwaysSome] and [SometimesAll]: First
// is the name, Second the value.
type NamedBool struct {
	First  string `json:"first"`
	Second bool   `json:"second"`
}

// NewNamedBool returns a NamedBool with name first and value second.
func NewNamedBool(first string, second bool) *NamedBool {
	return &NamedBool{First: first, Second: second}
}

// AlwaysSome asserts that every time it is evaluated at least one of the
// named bools is true: Always(b0 || b1 || ..., message, details). The bools
// are added to details under their names, and boolean guidance is sent when
// a bool takes a value it never had at this assertion.
func AlwaysSome(namedBools []NamedBool, message string, details map[string]any) {
	if !wire.Enabled() {
		return
	}
	cond := false
	for _, nb := range namedBools {
		if nb.Second {
			cond = true
			break
		}
	}
	if booleanSettled(namedBools, message, cond) {
		return
	}
	boolean(namedBools, cond, message, details, universalTest, false)
}

// SometimesAll asserts that at least once over the run all of the named
// bools are true at the same evaluation: Sometimes(b0 && b1 && ..., message,
// details). The bools are added to details under their names, and boolean
// guidance is sent when a bool takes a value it never had at this assertion.
func SometimesAll(namedBools []NamedBool, message string, details map[string]any) {
	if !wire.Enabled() {
		return
	}
	cond := true
	for _, nb := range namedBools {
		if !nb.Second {
			cond = false
			break
		}
	}
	if booleanSettled(namedBools, message, cond) {
		return
	}
	boolean(namedBools, cond, message, details, existentialTest, true)
}

func booleanSettled(named []NamedBool, message string, condition bool) bool {
	e := lookup(message)
	if e == nil || !e.sent(condition) {
		return false
	}
	t, f := boolBits(named)
	return !e.newBools(t, f)
}

// boolean is the slow path of AlwaysSome and SometimesAll.
//
//go:noinline
func boolean(named []NamedBool, condition bool, message string, details map[string]any, assertType string, maximize bool) {
	e := entryFor(message, gapNone, maximize)
	var loc *location
	if e.claim(condition) {
		l := callerLocation(2)
		loc = &l
		all := make(map[string]any, len(details)+len(named))
		for k, v := range details {
			all[k] = v
		}
		for _, nb := range named {
			all[nb.First] = nb.Second
		}
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
	if t, f := boolBits(named); e.recordBools(t, f) {
		if loc == nil {
			l := callerLocation(2)
			loc = &l
		}
		g := guidanceLine{
			id: message, message: message, guidanceType: "boolean",
			maximize: maximize, hit: true, data: boolData(named), loc: *loc,
		}
		g.send()
	}
}

func boolData(named []NamedBool) []byte {
	m := make(map[string]any, len(named))
	for _, nb := range named {
		m[nb.First] = nb.Second
	}
	return wire.AppendValue(nil, m)
}

// BooleanGuidanceRaw sends boolean guidance with every field given
// explicitly; behavior is "all" or "none". It is the entry point for
// generated code (catalog registrations pass hit=false) and frameworks. With
// hit=true a line is sent only when a bool takes a value it never had at id.
func BooleanGuidanceRaw(
	namedBools []NamedBool,
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
		t, f := boolBits(namedBools)
		if !entryFor(id, gapNone, maximize).recordBools(t, f) {
			return
		}
	}
	g := guidanceLine{
		id: id, message: message, guidanceType: guidanceType(behavior),
		maximize: maximize, hit: hit,
		loc: location{class: classname, function: funcname, file: filename, line: line, column: column},
	}
	if hit {
		g.data = boolData(namedBools)
	}
	g.send()
}
