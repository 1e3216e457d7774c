package assertions_test

// The compat test builds testdata/compat/antithesis, which imports the
// Antithesis Go SDK. Nothing outside testdata imports it, so these imports
// keep it a (test-only) requirement of this module through `go mod tidy`.
// Its packages stay silent here: ANTITHESIS_SDK_LOCAL_OUTPUT is not set.
import (
	_ "github.com/antithesishq/antithesis-sdk-go/assert"
	_ "github.com/antithesishq/antithesis-sdk-go/lifecycle"
)
