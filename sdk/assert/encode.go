package assert

import (
	"strconv"

	"github.com/mvrun/multiverse/sdk/internal/wire"
)

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

func appendLocation(b []byte, loc *location) []byte {
	b = append(b, `{"file":`...)
	b = wire.AppendString(b, loc.file)
	b = append(b, `,"function":`...)
	b = wire.AppendString(b, loc.function)
	b = append(b, `,"class":`...)
	b = wire.AppendString(b, loc.class)
	b = append(b, `,"begin_line":`...)
	b = strconv.AppendInt(b, int64(loc.line), 10)
	b = append(b, `,"begin_column":`...)
	b = strconv.AppendInt(b, int64(loc.column), 10)
	return append(b, '}')
}

// assertLine is one antithesis_assert message.
type assertLine struct {
	id, message             string
	condition, hit, mustHit bool
	assertType, displayType string
	loc                     location
	// details is nil for none: the key is then left out, as the Antithesis
	// Go SDK does since v0.9.0 (v0.8.0 wrote "details":null; readers take
	// both as no details).
	details any
}

func (a *assertLine) send() {
	b := make([]byte, 0, 320)
	b = append(b, `{"antithesis_assert":{"id":`...)
	b = wire.AppendString(b, a.id)
	b = append(b, `,"message":`...)
	b = wire.AppendString(b, a.message)
	b = append(b, `,"condition":`...)
	b = appendBool(b, a.condition)
	b = append(b, `,"display_type":`...)
	b = wire.AppendString(b, a.displayType)
	b = append(b, `,"hit":`...)
	b = appendBool(b, a.hit)
	b = append(b, `,"must_hit":`...)
	b = appendBool(b, a.mustHit)
	b = append(b, `,"assert_type":`...)
	b = wire.AppendString(b, a.assertType)
	b = append(b, `,"location":`...)
	b = appendLocation(b, &a.loc)
	if a.details != nil {
		b = append(b, `,"details":`...)
		b = wire.AppendValue(b, a.details)
	}
	b = append(b, "}}"...)
	wire.Send(b)
}

// guidanceLine is one antithesis_guidance message; data is already-encoded
// JSON, or nil for a catalog registration (which has no data).
type guidanceLine struct {
	id, message  string
	guidanceType string
	maximize     bool
	hit          bool
	data         []byte
	loc          location
}

func (g *guidanceLine) send() {
	b := make([]byte, 0, 320)
	b = append(b, `{"antithesis_guidance":{"id":`...)
	b = wire.AppendString(b, g.id)
	b = append(b, `,"message":`...)
	b = wire.AppendString(b, g.message)
	b = append(b, `,"guidance_type":`...)
	b = wire.AppendString(b, g.guidanceType)
	b = append(b, `,"maximize":`...)
	b = appendBool(b, g.maximize)
	b = append(b, `,"hit":`...)
	b = appendBool(b, g.hit)
	if g.data != nil {
		b = append(b, `,"guidance_data":`...)
		b = append(b, g.data...)
	}
	b = append(b, `,"location":`...)
	b = appendLocation(b, &g.loc)
	b = append(b, "}}"...)
	wire.Send(b)
}
