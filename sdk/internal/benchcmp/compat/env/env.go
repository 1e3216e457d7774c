// Package env points each SDK at its own temporary output file. Its import
// path sorts before github.com/antithesishq/..., so it runs before the
// Antithesis SDK opens its output in init.
package env

import "os"

// Dir holds Antithesis and Mvrun, the output files of the two SDKs.
var Dir, Antithesis, Mvrun string

func init() {
	d, err := os.MkdirTemp("", "sdk-compat-")
	if err != nil {
		panic(err)
	}
	Dir = d
	Antithesis = d + string(os.PathSeparator) + "antithesis.jsonl"
	Mvrun = d + string(os.PathSeparator) + "mvrun.jsonl"
	os.Setenv("ANTITHESIS_SDK_LOCAL_OUTPUT", Antithesis)
	os.Setenv("MVRUN_SDK", "file:"+Mvrun)
}
