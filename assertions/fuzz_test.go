package assertions

import (
	"testing"
)

// FuzzAdd feeds arbitrary lines to the SDK wire parser through
// Collector.Add. Every line must either count toward the result or be
// counted as malformed (never silently vanish), without a panic, and
// Result must stay consistent.
func FuzzAdd(f *testing.F) {
	for _, s := range []string{
		`{"antithesis_sdk":{"language":{"name":"Go","version":"go1.26"},"protocol_version":"1.1.0","sdk_version":"0.1.0"}}`,
		`{"antithesis_assert":{"id":"m","message":"m","condition":false,"display_type":"Always","hit":true,"must_hit":true,"assert_type":"always","location":{"file":"main.go","function":"main","class":"example.com/app","begin_line":20,"begin_column":0},"details":{"k":1}}}`,
		`{"antithesis_assert":{"id":"s","message":"s","condition":true,"display_type":"Sometimes","hit":true,"must_hit":true,"assert_type":"sometimes","location":{}}}`,
		`{"antithesis_assert":{"id":"u","message":"u","condition":false,"display_type":"Unreachable","hit":false,"must_hit":false,"assert_type":"reachability","location":{}}}`,
		`{"antithesis_guidance":{"id":"m","message":"m","guidance_type":"numeric","maximize":true,"hit":true,"guidance_data":{"left":3,"right":5},"location":{}}}`,
		`{"antithesis_setup":{"status":"complete","details":null}}`,
		`{"mvrun_sdk_lost":{"count":3,"reason":"buffer full"}}`,
		`{"my_event":{"n":1e400}}`,
		`{"a":1,"a":2}`,
		`[1,2,3]`,
		`{"antithesis_assert":null}`,
		"\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		c := NewCollector()
		c.Add(1, "n", "", 1, line)
		c.Add(1, "n", "w", 1, line) // a second stream, to exercise conflicts
		c.SeedDone(1)
		r := c.Result()
		r2 := c.Result()
		if len(r.Properties) != len(r2.Properties) || r.MalformedTotal != r2.MalformedTotal {
			t.Fatalf("Result is not stable")
		}
		for _, m := range r.Malformed {
			if len(m.Text) > MaxLineBytes {
				t.Fatalf("malformed text kept %d bytes", len(m.Text))
			}
		}
		for _, p := range r.Properties {
			if p.Verdict != Pass && p.Verdict != Fail {
				t.Fatalf("verdict %q", p.Verdict)
			}
			_ = p.String()
		}
		r.Interrupted()
	})
}
