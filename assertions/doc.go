// Package assertions turns the SDK's wire lines into property verdicts.
//
// A [Collector] receives every line the runner reads from a node's SDK
// output (the Antithesis fallback protocol: one JSON object per line), plus
// the runner's own built-in checks, for every seed of a run. [Collector.Result]
// aggregates them over all seeds with this semantics table:
//
//	Always, Always{GT,GTE,LT,LTE}, AlwaysSome  any evaluation false, or never reached
//	AlwaysOrUnreachable                        reached and false at least once
//	Sometimes, Sometimes{…}, SometimesAll      never true in any seed
//	Reachable                                  never reached
//	Unreachable                                reached at least once
//
// The kind of an assertion is read from the wire fields the way the
// Antithesis SDK (v0.8.0 and v0.9.0) writes them: assert_type says which rule family
// applies ("always", "sometimes", "reachability") and must_hit says whether
// never reaching it is a failure; display_type is only shown to people.
//
// Lines that cannot be understood are kept as [Malformed] entries with the
// seed, node, process and line number they came from; they never stop a run
// and are never dropped silently. See docs/report-semantics.md.
package assertions
