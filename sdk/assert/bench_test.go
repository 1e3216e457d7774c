package assert

import (
	"os"
	"strconv"
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

// BenchmarkHotPathParts splits the hot path of Always with the file
// transport into its two steps, to show where its time goes (docs/sdk.md):
// checking that a transport is active (what the whole call costs with no
// transport), and finding the message's entry in the id table, which hashes
// the message, so it grows with the message's length.
func BenchmarkHotPathParts(b *testing.B) {
	capture(b)
	short, long := "hot", "hot: a longer property message, as services tend to write them"
	Always(true, short, nil)
	Always(true, long, nil)
	b.Run("enabled", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if !wire.Enabled() {
				b.Fatal("no transport")
			}
		}
	})
	for _, m := range []string{short, long} {
		b.Run("lookup/"+strconv.Itoa(len(m))+"B", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if e := lookup(m); e == nil || !e.sent(true) {
					b.Fatal("no entry")
				}
			}
		})
		b.Run("Always/"+strconv.Itoa(len(m))+"B", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				Always(i >= 0, m, nil)
			}
		})
	}
}
