// Module compat builds testdata/compat/antithesis/main.go against the
// Antithesis Go SDK v0.9.0 (compat_test.go copies the program here).
module compat

go 1.24.0

require github.com/antithesishq/antithesis-sdk-go v0.9.0
