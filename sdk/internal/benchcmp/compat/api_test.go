package compat

import (
	"math/rand"

	aassert "github.com/antithesishq/antithesis-sdk-go/assert"
	alifecycle "github.com/antithesishq/antithesis-sdk-go/lifecycle"
	arandom "github.com/antithesishq/antithesis-sdk-go/random"
	massert "github.com/mvrun/multiverse/sdk/assert"
	mlifecycle "github.com/mvrun/multiverse/sdk/lifecycle"
	mrandom "github.com/mvrun/multiverse/sdk/random"
)

// The exported API of the mvrun SDK must be the Antithesis Go SDK's (the
// version go.mod requires), so that code moves between them by changing
// an import: each function of the Antithesis SDK is assigned, with its
// full signature spelled out, next to its mvrun counterpart. A signature
// that drifts on either side stops this package from compiling. Generic
// functions are checked at one instantiation; the type sets of Number are
// checked by the numeric calls in compat_test.go.
type (
	detailsFn       = func(bool, string, map[string]any)
	reachFn         = func(string, map[string]any)
	boolsFn[NB any] = func([]NB, string, map[string]any)
	compareFn       = func(int, int, string, map[string]any)
	assertRawFn     = func(cond bool, message string, details map[string]any,
		classname, funcname, filename string, line int, column int,
		hit bool, mustHit bool, assertType string, displayType string, id string)
	richAssertRawFn = func(cond bool, message string, details map[string]any, guidanceDetails map[string]any,
		classname, funcname, filename string, line int, column int,
		hit bool, mustHit bool, assertType string, displayType string, id string)
	numericRawFn = func(left, right int, message, id string,
		classname, funcname, filename string, line int, column int, behavior string, hit bool)
	booleanRawFn[NB any] = func(namedBools []NB, message, id string,
		classname, funcname, filename string, line int, column int, behavior string, hit bool)
)

var (
	_ detailsFn = aassert.Always
	_ detailsFn = massert.Always
	_ detailsFn = aassert.AlwaysOrUnreachable
	_ detailsFn = massert.AlwaysOrUnreachable
	_ detailsFn = aassert.Sometimes
	_ detailsFn = massert.Sometimes
	_ reachFn   = aassert.Reachable
	_ reachFn   = massert.Reachable
	_ reachFn   = aassert.Unreachable
	_ reachFn   = massert.Unreachable

	_ compareFn = aassert.AlwaysGreaterThan[int]
	_ compareFn = massert.AlwaysGreaterThan[int]
	_ compareFn = aassert.AlwaysGreaterThanOrEqualTo[int]
	_ compareFn = massert.AlwaysGreaterThanOrEqualTo[int]
	_ compareFn = aassert.AlwaysLessThan[int]
	_ compareFn = massert.AlwaysLessThan[int]
	_ compareFn = aassert.AlwaysLessThanOrEqualTo[int]
	_ compareFn = massert.AlwaysLessThanOrEqualTo[int]
	_ compareFn = aassert.SometimesGreaterThan[int]
	_ compareFn = massert.SometimesGreaterThan[int]
	_ compareFn = aassert.SometimesGreaterThanOrEqualTo[int]
	_ compareFn = massert.SometimesGreaterThanOrEqualTo[int]
	_ compareFn = aassert.SometimesLessThan[int]
	_ compareFn = massert.SometimesLessThan[int]
	_ compareFn = aassert.SometimesLessThanOrEqualTo[int]
	_ compareFn = massert.SometimesLessThanOrEqualTo[int]

	_ boolsFn[aassert.NamedBool]            = aassert.AlwaysSome
	_ boolsFn[massert.NamedBool]            = massert.AlwaysSome
	_ boolsFn[aassert.NamedBool]            = aassert.SometimesAll
	_ boolsFn[massert.NamedBool]            = massert.SometimesAll
	_ func(string, bool) *aassert.NamedBool = aassert.NewNamedBool
	_ func(string, bool) *massert.NamedBool = massert.NewNamedBool

	_ assertRawFn                     = aassert.AssertRaw
	_ assertRawFn                     = massert.AssertRaw
	_ richAssertRawFn                 = aassert.RichAssertRaw
	_ richAssertRawFn                 = massert.RichAssertRaw
	_ numericRawFn                    = aassert.NumericGuidanceRaw[int]
	_ numericRawFn                    = massert.NumericGuidanceRaw[int]
	_ booleanRawFn[aassert.NamedBool] = aassert.BooleanGuidanceRaw
	_ booleanRawFn[massert.NamedBool] = massert.BooleanGuidanceRaw

	_ func(any)         = alifecycle.SetupComplete
	_ func(any)         = mlifecycle.SetupComplete
	_ func(string, any) = alifecycle.SendEvent
	_ func(string, any) = mlifecycle.SendEvent

	//lint:ignore SA1019 the API check names every function, deprecated ones too
	_ func() uint64                 = arandom.GetRandom
	_ func() uint64                 = mrandom.GetRandom
	_ func([]string) (string, bool) = arandom.RandomChoice[string]
	_ func([]string) (string, bool) = mrandom.RandomChoice[string]
	// mvrun's Source returns rand.Source64, which every rand.Source
	// variable accepts.
	_ func() rand.Source = arandom.Source
	_ rand.Source        = mrandom.Source()
)

// NamedBool has the same fields in both SDKs, so a composite literal
// compiles against either.
var (
	_ = aassert.NamedBool{First: "x", Second: true}
	_ = massert.NamedBool{First: "x", Second: true}
)
