package assertions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Wire keys of the Antithesis SDK fallback protocol, plus mvrun's own
// lost-message counter.
const (
	keyAssert   = "antithesis_assert"
	keyGuidance = "antithesis_guidance"
	keySDK      = "antithesis_sdk"
	keySetup    = "antithesis_setup"
	keyLost     = "mvrun_sdk_lost"
	// keyHistory lines (sdk/history) are checked by the runner against the
	// spec's check blocks (package assertions/history), not here.
	keyHistory = "mvrun_history"
	// keyError and keyWarning are the Antithesis Go SDK's (v0.9.0 on)
	// reports about itself, e.g. details it could not serialize. They carry
	// no verdict; the Collector turns them into notes.
	keyError   = "antithesis_error"
	keyWarning = "antithesis_warning"
)

// AssertType is a property's type: a value of the assert_type wire field,
// or [TypeCheck] for the spec's history checks.
type AssertType string

// Values of the assert_type wire field, which are also [Property.Type].
const (
	TypeAlways       AssertType = "always"
	TypeSometimes    AssertType = "sometimes"
	TypeReachability AssertType = "reachability"
	// TypeCheck is a history check of the spec (check blocks), not an SDK
	// assertion type: its verdict may be [Unknown].
	TypeCheck AssertType = "check"
)

// String returns the wire spelling of t.
func (t AssertType) String() string { return string(t) }

// DisplayLinearizable is the display type of history checks.
const DisplayLinearizable = "Linearizable"

// degradedProperty is the id of an Always(false) the Antithesis Go SDK
// writes at start-up when built without cgo. It tells Antithesis users their
// coverage channel is missing; mvrun needs no cgo, so it is reported as a
// note instead of a failing property.
const degradedProperty = "Go application under test compiled with CGO enabled"

// Location is where an assertion sits in the source, as the SDK reports it.
type Location struct {
	Class    string `json:"class"`
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"begin_line"`
	Column   int    `json:"begin_column"`
}

// wireAssert is an antithesis_assert object. Pointers tell a missing field
// from a zero one, since missing required fields make a line malformed.
type wireAssert struct {
	ID          *string         `json:"id"`
	Message     *string         `json:"message"`
	Condition   *bool           `json:"condition"`
	DisplayType *string         `json:"display_type"`
	Hit         *bool           `json:"hit"`
	MustHit     *bool           `json:"must_hit"`
	AssertType  *string         `json:"assert_type"`
	Location    *Location       `json:"location"`
	Details     json.RawMessage `json:"details"`
}

type wireGuidance struct {
	ID           *string   `json:"id"`
	Message      *string   `json:"message"`
	GuidanceType *string   `json:"guidance_type"`
	Maximize     bool      `json:"maximize"`
	Hit          *bool     `json:"hit"`
	Location     *Location `json:"location"`
}

type wireSDK struct {
	Language *struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"language"`
	ProtocolVersion *string `json:"protocol_version"`
	SDKVersion      *string `json:"sdk_version"`
}

type wireSetup struct {
	Status *string `json:"status"`
}

// wireDiagnostic is an antithesis_error or antithesis_warning object.
type wireDiagnostic struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Context string `json:"context"`
}

type wireLost struct {
	Count  *int64 `json:"count"`
	Reason string `json:"reason"`
}

// assertion is one decoded antithesis_assert line.
type assertion struct {
	id, message, displayType string
	assertType               AssertType
	hit, mustHit, condition  bool
	loc                      Location
	details                  map[string]any
}

// item is one decoded top-level key of a wire line.
type item struct {
	key      string
	assert   *assertion
	guidance *Guidance
	sdk      *SDK
	setup    string // status of an antithesis_setup
	lost     *wireLost
	diag     *wireDiagnostic // antithesis_error, antithesis_warning
	event    any             // value of a plain event
}

// parseLine decodes one wire line. A line is a JSON object; each of its keys
// is one item (SendEvent writes one key per line, but nothing forbids more).
// Any bad key makes the whole line malformed so half a line is never used.
func parseLine(line []byte) ([]item, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(line, &top); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if top == nil {
		return nil, errors.New("not a JSON object: null")
	}
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	items := make([]item, 0, len(keys))
	for _, k := range keys {
		it, err := parseItem(k, top[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		return nil, errors.New("empty JSON object")
	}
	return items, nil
}

func parseItem(key string, raw json.RawMessage) (item, error) {
	it := item{key: key}
	switch key {
	case keyAssert:
		a, err := parseAssert(raw)
		if err != nil {
			return it, err
		}
		it.assert = a
	case keyGuidance:
		var w wireGuidance
		if err := decodeObject(raw, &w); err != nil {
			return it, err
		}
		id, err := idOf(w.ID, w.Message)
		if err != nil {
			return it, err
		}
		if w.GuidanceType == nil {
			return it, errors.New(`missing "guidance_type"`)
		}
		g := &Guidance{ID: id, GuidanceType: *w.GuidanceType, Maximize: w.Maximize}
		if w.Message != nil {
			g.Message = *w.Message
		}
		if w.Location != nil {
			g.Location = *w.Location
		}
		if w.Hit == nil || *w.Hit {
			g.Hits = 1
		}
		it.guidance = g
	case keySDK:
		var w wireSDK
		if err := decodeObject(raw, &w); err != nil {
			return it, err
		}
		if w.ProtocolVersion == nil {
			return it, errors.New(`missing "protocol_version"`)
		}
		s := &SDK{ProtocolVersion: *w.ProtocolVersion}
		if w.SDKVersion != nil {
			s.Version = *w.SDKVersion
		}
		if w.Language != nil {
			s.Language, s.LanguageVersion = w.Language.Name, w.Language.Version
		}
		it.sdk = s
	case keySetup:
		var w wireSetup
		if err := decodeObject(raw, &w); err != nil {
			return it, err
		}
		if w.Status == nil {
			return it, errors.New(`missing "status"`)
		}
		it.setup = *w.Status
	case keyLost:
		var w wireLost
		if err := decodeObject(raw, &w); err != nil {
			return it, err
		}
		if w.Count == nil || *w.Count < 0 {
			return it, errors.New(`"count" must be a non-negative integer`)
		}
		it.lost = &w
	case keyError, keyWarning:
		var w wireDiagnostic
		if err := decodeObject(raw, &w); err != nil {
			return it, err
		}
		if w.Message == "" {
			return it, errors.New(`missing "message"`)
		}
		it.diag = &w
	case keyHistory:
	default:
		v, err := decodeAny(raw)
		if err != nil {
			return it, err
		}
		it.event = v
	}
	return it, nil
}

func parseAssert(raw json.RawMessage) (*assertion, error) {
	var w wireAssert
	if err := decodeObject(raw, &w); err != nil {
		return nil, err
	}
	id, err := idOf(w.ID, w.Message)
	if err != nil {
		return nil, err
	}
	if w.AssertType == nil {
		return nil, errors.New(`missing "assert_type"`)
	}
	if w.Hit == nil {
		return nil, errors.New(`missing "hit"`)
	}
	a := &assertion{id: id, message: id, assertType: AssertType(*w.AssertType), hit: *w.Hit}
	switch a.assertType {
	case TypeAlways, TypeReachability:
		// must_hit is what tells Always from AlwaysOrUnreachable and
		// Reachable from Unreachable: guessing would flip verdicts.
		if w.MustHit == nil {
			return nil, fmt.Errorf(`missing "must_hit" (needed for assert_type %q)`, a.assertType)
		}
		a.mustHit = *w.MustHit
	case TypeSometimes:
		// Every Sometimes is must-hit: never reached means never true.
		a.mustHit = true
	default:
		return nil, fmt.Errorf(`unknown "assert_type" %q (want always, sometimes or reachability)`, a.assertType)
	}
	switch {
	case w.Condition != nil:
		a.condition = *w.Condition
	case a.assertType == TypeReachability:
		// Reachable sends true and Unreachable false; derive it if absent.
		a.condition = a.mustHit
	case a.hit:
		return nil, errors.New(`missing "condition"`)
	}
	if w.Message != nil {
		a.message = *w.Message
	}
	if w.DisplayType != nil && *w.DisplayType != "" {
		a.displayType = *w.DisplayType
	} else {
		a.displayType = defaultDisplay(a.assertType, a.mustHit)
	}
	if w.Location != nil {
		a.loc = *w.Location
	}
	if len(w.Details) > 0 {
		v, err := decodeAny(w.Details)
		if err != nil {
			return nil, fmt.Errorf("details: %w", err)
		}
		switch d := v.(type) {
		case nil:
		case map[string]any:
			a.details = d
		default:
			// Other SDKs may send any JSON value; keep it visible.
			a.details = map[string]any{"details": d}
		}
	}
	return a, nil
}

// defaultDisplay names an assertion kind when the line has no display_type.
func defaultDisplay(assertType AssertType, mustHit bool) string {
	switch {
	case assertType == TypeAlways && mustHit:
		return "Always"
	case assertType == TypeAlways:
		return "AlwaysOrUnreachable"
	case assertType == TypeSometimes:
		return "Sometimes"
	case mustHit:
		return "Reachable"
	default:
		return "Unreachable"
	}
}

func idOf(id, message *string) (string, error) {
	switch {
	case id != nil && *id != "":
		return *id, nil
	case message != nil && *message != "":
		return *message, nil
	}
	return "", errors.New(`missing "id" and "message"`)
}

func decodeObject(raw json.RawMessage, v any) error {
	if b := bytes.TrimSpace(raw); len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("want a JSON object, got %.40s", raw)
	}
	return json.Unmarshal(raw, v)
}

// decodeAny keeps numbers as [json.Number] so large integers in details
// survive into reports exactly.
func decodeAny(raw json.RawMessage) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
