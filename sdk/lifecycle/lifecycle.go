// Package lifecycle tells mvrun about the phases of a test: when the system
// is set up (so faults may start) and named events along the way. The calls
// and wire messages are those of the Antithesis Go SDK's lifecycle package.
// Outside a run they are no-ops.
package lifecycle

import (
	"reflect"

	"github.com/mvrun/multiverse/sdk/internal/wire"
)

// SetupComplete tells mvrun that the system is initialized and ready for the
// workload and faults. details is optional context for the report: nil (or
// anything encoding as JSON null) sends no details, an object is sent as is
// and any other value as {"value": v}, as the Antithesis Go SDK does since
// v0.9.0. Calling it more than once, or from several processes, is
// harmless: the first call counts.
func SetupComplete(details any) {
	if !wire.Enabled() {
		return
	}
	b := make([]byte, 0, 96)
	b = append(b, `{"antithesis_setup":{"status":"complete"`...)
	if d := detailsObject(details); d != nil {
		b = append(b, `,"details":`...)
		b = append(b, d...)
	}
	b = append(b, "}}"...)
	wire.Send(b)
}

// SendEvent records a named event with details in the run's timeline, as the
// line {"<eventName>": details}: nil details are sent as {}, an object as
// is, any other value as {"value": v} (the Antithesis Go SDK's rules since
// v0.9.0). Every call is sent, so keep events to milestones rather than
// per-request traffic.
func SendEvent(eventName string, details any) {
	if !wire.Enabled() {
		return
	}
	b := make([]byte, 0, 96)
	b = append(b, '{')
	b = wire.AppendString(b, eventName)
	b = append(b, ':')
	if d := detailsObject(details); d != nil {
		b = append(b, d...)
	} else {
		b = append(b, "{}"...)
	}
	b = append(b, '}')
	wire.Send(b)
}

// detailsObject encodes details as a JSON object: nil for no details (nil,
// a nil map, slice or pointer, anything that encodes as null), the encoding itself
// for an object, and {"value": ...} around any other value.
func detailsObject(details any) []byte {
	if details == nil {
		return nil
	}
	switch v := reflect.ValueOf(details); v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		if v.IsNil() {
			return nil
		}
	}
	v := wire.AppendValue(nil, details)
	switch {
	case string(v) == "null":
		return nil
	case len(v) > 0 && v[0] == '{':
		return v
	}
	b := make([]byte, 0, len(v)+10)
	b = append(b, `{"value":`...)
	b = append(b, v...)
	return append(b, '}')
}
