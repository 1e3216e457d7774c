// Package sdk is the root of the mvrun SDK module, which services link to
// report assertions, lifecycle events and operation histories and to draw
// seeded randomness. It has its
// own go.mod and imports only the standard library, so depending on it pulls
// in nothing else. See sdk/assert, sdk/lifecycle, sdk/history and sdk/random.
package sdk
