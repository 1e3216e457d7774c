// Package lifecycle tells mvrun about the phases of a test: when the system
// is set up (so faults may start) and named events along the way. The calls
// and wire messages are those of the Antithesis Go SDK's lifecycle package.
// Outside a run they are no-ops.
package lifecycle

import "github.com/mvrun/multiverse/sdk/internal/wire"

// SetupComplete tells mvrun that the system is initialized and ready for the
// workload and faults. details is optional context for the report. Calling it
// more than once, or from several processes, is harmless: the first call
// counts.
func SetupComplete(details any) {
	if !wire.Enabled() {
		return
	}
	b := make([]byte, 0, 96)
	b = append(b, `{"antithesis_setup":{"status":"complete","details":`...)
	b = wire.AppendValue(b, details)
	b = append(b, "}}"...)
	wire.Send(b)
}

// SendEvent records a named event with details in the run's timeline, as the
// line {"<eventName>": details}. Every call is sent, so keep events to
// milestones rather than per-request traffic.
func SendEvent(eventName string, details any) {
	if !wire.Enabled() {
		return
	}
	b := make([]byte, 0, 96)
	b = append(b, '{')
	b = wire.AppendString(b, eventName)
	b = append(b, ':')
	b = wire.AppendValue(b, details)
	b = append(b, '}')
	wire.Send(b)
}
