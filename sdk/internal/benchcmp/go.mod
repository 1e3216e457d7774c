// Module benchcmp benchmarks the mvrun SDK against the Antithesis Go SDK. It
// is a separate module so that the SDK's own go.mod never depends on
// Antithesis. Its path sorts before github.com so that file/fileenv can set
// the output variables before the Antithesis SDK reads them in its init.
module benchcmp

go 1.24.0

require (
	github.com/antithesishq/antithesis-sdk-go v0.9.0
	github.com/mvrun/multiverse/sdk v0.0.0
)

replace github.com/mvrun/multiverse/sdk => ../..
