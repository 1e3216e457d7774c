// Package assert defines test properties of a program: conditions that must
// always hold, that must hold at least sometimes, code that must or must not
// be reached. mvrun aggregates every evaluation over all seeds of a run and
// reports each violated property with the seed that replays it.
//
// The API and the wire messages are those of the Antithesis Go SDK
// (github.com/antithesishq/antithesis-sdk-go/assert v0.9.0), so code moves
// between the two by changing the import path.
//
// Each function takes a message, which names the property: evaluations with
// the same message are one property. It must be a string constant, so that
// `mvrun catalog` can register every assertion at startup and a property
// that is never reached still shows up (and fails, for Always, Sometimes
// and Reachable). details is optional context shown with the first passing
// and the first failing evaluation; error values in it are rendered with %+v.
//
// Per message and per process, only the first passing and the first failing
// evaluation are sent; after that, an evaluation costs a map lookup and does
// not allocate. Outside an mvrun (or Antithesis-compatible) run, where no
// transport is configured, every function returns at once. The functions are
// safe for concurrent use, never panic, and never block for long: see the
// transports in docs/sdk.md.
package assert

import "github.com/mvrun/multiverse/sdk/internal/wire"

// Wire values of assert_type and display_type, and must_hit per function.
const (
	universalTest    = "always"
	existentialTest  = "sometimes"
	reachabilityTest = "reachability"

	alwaysDisplay              = "Always"
	alwaysOrUnreachableDisplay = "AlwaysOrUnreachable"
	sometimesDisplay           = "Sometimes"
	reachableDisplay           = "Reachable"
	unreachableDisplay         = "Unreachable"
)

// Always asserts that condition is true every time this call is evaluated,
// and that it is evaluated at least once. The property fails if any
// evaluation is false or if it is never reached.
func Always(condition bool, message string, details map[string]any) {
	if !wire.Enabled() {
		return
	}
	if e := lookup(message); e != nil && e.sent(condition) {
		return
	}
	evaluate(condition, message, details, true, universalTest, alwaysDisplay)
}

// AlwaysOrUnreachable asserts that condition is true every time this call is
// evaluated. Unlike [Always], the property passes if it is never reached.
func AlwaysOrUnreachable(condition bool, message string, details map[string]any) {
	if !wire.Enabled() {
		return
	}
	if e := lookup(message); e != nil && e.sent(condition) {
		return
	}
	evaluate(condition, message, details, false, universalTest, alwaysOrUnreachableDisplay)
}

// Sometimes asserts that condition is true at least once over the run. The
// property fails if it is never true, including if it is never reached.
func Sometimes(condition bool, message string, details map[string]any) {
	if !wire.Enabled() {
		return
	}
	if e := lookup(message); e != nil && e.sent(condition) {
		return
	}
	evaluate(condition, message, details, true, existentialTest, sometimesDisplay)
}

// Reachable asserts that this line is reached at least once. The property
// fails if it is never reached.
func Reachable(message string, details map[string]any) {
	if !wire.Enabled() {
		return
	}
	if e := lookup(message); e != nil && e.sent(true) {
		return
	}
	evaluate(true, message, details, true, reachabilityTest, reachableDisplay)
}

// Unreachable asserts that this line is never reached. The property fails if
// it is reached at least once.
func Unreachable(message string, details map[string]any) {
	if !wire.Enabled() {
		return
	}
	if e := lookup(message); e != nil && e.sent(false) {
		return
	}
	evaluate(false, message, details, false, reachabilityTest, unreachableDisplay)
}

// evaluate is the slow path of the plain assertions: the first evaluation
// with this outcome. Its caller's caller is the assertion's location.
//
//go:noinline
func evaluate(condition bool, message string, details map[string]any, mustHit bool, assertType, displayType string) {
	e := entryFor(message, gapNone, false)
	if !e.claim(condition) {
		return
	}
	a := assertLine{
		id: message, message: message,
		condition: condition, hit: true, mustHit: mustHit,
		assertType: assertType, displayType: displayType,
		loc:     callerLocation(2),
		details: detailsValue(details),
	}
	a.send()
}

// detailsValue turns a nil map into no details (the wire line then has no
// details key, like the Antithesis SDK's since v0.9.0); an empty map stays
// an empty object.
func detailsValue(details map[string]any) any {
	if details == nil {
		return nil
	}
	return details
}

// AssertRaw sends an assertion with every field given explicitly. It is the
// entry point for generated code (the `mvrun catalog` registrations, which
// pass hit=false) and for frameworks; regular code calls [Always] and the
// others. An evaluation (hit=true) is deduplicated like the others: only the
// first passing and the first failing one per id are sent. A declaration
// (hit=false) never carries details.
func AssertRaw(cond bool, message string, details map[string]any,
	classname, funcname, filename string, line int, column int,
	hit bool, mustHit bool,
	assertType string, displayType string,
	id string,
) {
	loc := location{class: classname, function: funcname, file: filename, line: line, column: column}
	sendRaw(cond, message, details, nil, false, loc, hit, mustHit, assertType, displayType, id)
}

// RichAssertRaw is [AssertRaw] for assertions that carry guidance values
// (the operands of a numeric assertion, the named bools of a boolean one):
// an evaluation's details are details with guidanceDetails merged in, a
// guidance key replacing a details key of the same name, and are always an
// object, {} when both are nil. A declaration (hit=false) carries no
// details. It is for frameworks and generated code, as in the Antithesis Go
// SDK (v0.9.0), whose signature it has.
func RichAssertRaw(cond bool, message string, details map[string]any, guidanceDetails map[string]any,
	classname, funcname, filename string, line int, column int,
	hit bool, mustHit bool,
	assertType string, displayType string,
	id string,
) {
	loc := location{class: classname, function: funcname, file: filename, line: line, column: column}
	sendRaw(cond, message, details, guidanceDetails, true, loc, hit, mustHit, assertType, displayType, id)
}

// sendRaw is [AssertRaw] and, with rich set, [RichAssertRaw]: an
// evaluation's details are details alone, or details with guidance merged
// in (always an object).
func sendRaw(cond bool, message string, details, guidance map[string]any, rich bool, loc location,
	hit, mustHit bool, assertType, displayType, id string) {
	if !wire.Enabled() {
		return
	}
	if hit && !entryFor(id, gapNone, false).claim(cond) {
		return
	}
	a := assertLine{
		id: id, message: message,
		condition: cond, hit: hit, mustHit: mustHit,
		assertType: assertType, displayType: displayType,
		loc: loc,
	}
	switch {
	case hit && rich:
		a.details = mergeDetails(details, guidance)
	case hit:
		a.details = detailsValue(details)
	}
	a.send()
}

// mergeDetails is details with guidance's keys added (replacing any of the
// same name), never nil. The caller's maps are not modified.
func mergeDetails(details, guidance map[string]any) map[string]any {
	if len(guidance) == 0 && details != nil {
		return details
	}
	all := make(map[string]any, len(details)+len(guidance))
	for k, v := range details {
		all[k] = v
	}
	for k, v := range guidance {
		all[k] = v
	}
	return all
}
