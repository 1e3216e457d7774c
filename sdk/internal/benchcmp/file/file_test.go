// Package file benchmarks both SDKs writing to a file transport.
package file

import (
	"os"
	"strings"
	"testing"

	"benchcmp"
	"benchcmp/file/fileenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	os.RemoveAll(fileenv.Dir)
	os.Exit(code)
}

// BenchmarkFileTransport compares the SDKs writing to a file.
func BenchmarkFileTransport(b *testing.B) {
	benchcmp.Run(b)
	b.StopTimer()
	data, err := os.ReadFile(fileenv.Path)
	if err != nil {
		b.Fatal(err)
	}
	// Each SDK announces itself once: mvrun as 0.1.0, Antithesis with its
	// own version.
	if n := strings.Count(string(data), `"antithesis_sdk"`); n != 2 || !strings.Contains(string(data), `"sdk_version":"0.1.0"`) {
		b.Fatalf("%d antithesis_sdk lines in %s, want one from each SDK: a file transport was not active", n, fileenv.Path)
	}
}
