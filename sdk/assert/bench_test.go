package assert

import (
	"os"
	"testing"

	"github.com/mvrun/multiverse/sdk/internal/wire"
)

// The hot path: an evaluation whose outcome this process already sent. The
// side-by-side comparison with the Antithesis SDK is in
// sdk/internal/benchcmp (docs/sdk.md).

func BenchmarkAlwaysHot(b *testing.B) {
	for _, transport := range []string{"file", "none"} {
		b.Run(transport, func(b *testing.B) {
			if transport == "file" {
				capture(b)
			} else {
				resetTable()
				wire.Reset(func(string) string { return "" }, os.Stderr)
			}
			Always(true, "hot", nil)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				Always(i >= 0, "hot", nil)
			}
		})
	}
}

func BenchmarkAlwaysLessThanHot(b *testing.B) {
	capture(b)
	AlwaysLessThan(int64(0), 1<<40, "hot lt", nil)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		AlwaysLessThan(-int64(i), 1<<40, "hot lt", nil)
	}
}

// BenchmarkFirstEvaluation is the slow path: a new message, encoded and
// written to the file transport, in a program with 256 messages (adding one
// copies the table, so the cost grows with the number of messages).
func BenchmarkFirstEvaluation(b *testing.B) {
	capture(b)
	msgs := make([]string, 256)
	for i := range msgs {
		msgs[i] = "first " + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
	}
	b.ReportAllocs()
	for n, i := 0, 0; n < b.N; n++ {
		if i == len(msgs) {
			b.StopTimer()
			resetTable()
			i = 0
			b.StartTimer()
		}
		Always(true, msgs[i], map[string]any{"i": i})
		i++
	}
}
