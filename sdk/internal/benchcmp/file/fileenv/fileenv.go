// Package fileenv points both SDKs at a temporary output file. Its import
// path sorts before github.com/antithesishq/..., so the Go initialization
// order runs it before the Antithesis SDK opens its output in init.
package fileenv

import "os"

// Dir is the temporary directory holding the output file; the benchmark
// removes it when done.
var Dir string

// Path is the output file both SDKs append to.
var Path string

func init() {
	d, err := os.MkdirTemp("", "sdk-bench-")
	if err != nil {
		panic(err)
	}
	Dir = d
	Path = d + string(os.PathSeparator) + "sdk.jsonl"
	os.Setenv("ANTITHESIS_SDK_LOCAL_OUTPUT", Path)
	os.Setenv("MVRUN_SDK", "file:"+Path)
}
