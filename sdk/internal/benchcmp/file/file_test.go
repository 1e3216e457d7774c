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
	for _, v := range []string{`"sdk_version":"0.8.0"`, `"sdk_version":"0.1.0"`} {
		if !strings.Contains(string(data), v) {
			b.Fatalf("no %s line in %s: that SDK's file transport was not active", v, fileenv.Path)
		}
	}
}
