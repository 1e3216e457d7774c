// Package benchcmp holds the benchmark bodies shared by the noop and file
// packages: the same calls through the mvrun SDK and the Antithesis Go SDK.
package benchcmp

import (
	"testing"

	antithesis "github.com/antithesishq/antithesis-sdk-go/assert"
	mvrun "github.com/mvrun/multiverse/sdk/assert"
)

// Run runs every comparison benchmark under b.
func Run(b *testing.B) {
	b.Run("Always/mvrun", func(b *testing.B) {
		mvrun.Always(true, "hot always", nil)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			mvrun.Always(i >= 0, "hot always", nil)
		}
	})
	b.Run("Always/antithesis", func(b *testing.B) {
		antithesis.Always(true, "hot always", nil)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			antithesis.Always(i >= 0, "hot always", nil)
		}
	})
	b.Run("AlwaysDetails/mvrun", func(b *testing.B) {
		mvrun.Always(true, "hot details", map[string]any{"i": 0})
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			mvrun.Always(i >= 0, "hot details", map[string]any{"i": i, "op": "put"})
		}
	})
	b.Run("AlwaysDetails/antithesis", func(b *testing.B) {
		antithesis.Always(true, "hot details", map[string]any{"i": 0})
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			antithesis.Always(i >= 0, "hot details", map[string]any{"i": i, "op": "put"})
		}
	})
	b.Run("AlwaysLessThan/mvrun", func(b *testing.B) {
		mvrun.AlwaysLessThan(0, 1<<40, "hot lt", nil)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			mvrun.AlwaysLessThan(-i, 1<<40, "hot lt", nil)
		}
	})
	b.Run("AlwaysLessThan/antithesis", func(b *testing.B) {
		antithesis.AlwaysLessThan(0, 1<<40, "hot lt", nil)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			antithesis.AlwaysLessThan(-i, 1<<40, "hot lt", nil)
		}
	})
	b.Run("Parallel/mvrun", func(b *testing.B) {
		mvrun.Always(true, "hot parallel", nil)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mvrun.Always(true, "hot parallel", nil)
			}
		})
	})
	b.Run("Parallel/antithesis", func(b *testing.B) {
		antithesis.Always(true, "hot parallel", nil)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				antithesis.Always(true, "hot parallel", nil)
			}
		})
	})
}
