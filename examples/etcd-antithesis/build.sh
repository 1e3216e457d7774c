#!/bin/sh
# Builds etcd v3.7's Antithesis harness for mvrun's process backend, the
# way its test-template/Dockerfile lays it out in the client image (without
# -race), plus the etcd server, into ${ETCD_HARNESS:-./build}. The harness
# builds only with cgo (its files carry //go:build cgo && amd64), so
# CGO_ENABLED=1: the binaries are dynamic, which process and docker run as
# they are. Needs the Go module proxy (or a filled module cache).
#
# The traffic program is built with its assertion catalog (mvrun catalog,
# as Antithesis' instrumentor adds its own), so its Unreachable "Client
# failed to connect to an etcd host" is listed in every report even when
# it is never reached. Go does not let a build add files to a package in
# the module cache, so its one source file is copied, unchanged, into a
# package of the build's own module, next to the catalog. The validation
# program's messages are not constants (a helper passes each property's
# name), so it cannot have one; its properties are listed once it runs.
set -eu
REPO=$(cd "$(dirname "$0")/../.." && pwd)
VERSION=${ETCD_VERSION:-v3.7.3}
OUT=$(realpath -m "${ETCD_HARNESS:-./build}")
MOD=$(mktemp -d)
trap 'rm -rf "$MOD"' EXIT
cd "$MOD"
go mod init example.com/etcd-harness >/dev/null 2>&1
GOFLAGS=-mod=mod go get "go.etcd.io/etcd/tests/v3@$VERSION" "go.etcd.io/etcd/server/v3@$VERSION"
T=go.etcd.io/etcd/tests/v3/antithesis/test-template
export CGO_ENABLED=1 GOFLAGS=-mod=mod
mkdir -p "$OUT/root/opt/antithesis/entrypoint" "$OUT/root/opt/antithesis/test/v1/robustness"
(cd "$REPO" && CGO_ENABLED=0 GOFLAGS= go build -o "$MOD/mvrun" ./cmd/mvrun)
mkdir "$MOD/traffic"
cp "$(go list -f '{{.Dir}}' "$T/robustness/traffic")/main.go" "$MOD/traffic/main.go"
chmod u+w "$MOD/traffic/main.go"
"$MOD/mvrun" catalog ./traffic
go build -o "$OUT/etcd" go.etcd.io/etcd/server/v3
go build -o "$OUT/root/opt/antithesis/entrypoint/entrypoint" "$T/entrypoint"
go build -o "$OUT/root/opt/antithesis/test/v1/robustness/singleton_driver_traffic" ./traffic
go build -o "$OUT/root/opt/antithesis/test/v1/robustness/finally_validation" "$T/robustness/finally"
echo "built etcd $VERSION and its Antithesis harness into $OUT"
