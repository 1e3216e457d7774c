#!/usr/bin/env bash
# Builds the harness into ${HARNESS_ROOT:-./root}, laid out as its image:
# bin/harness, the test-composer template directory (its commands are the
# harness binary under the names of their roles, plus a helper_ file that
# mvrun ignores) and a FROM scratch Dockerfile. Then:
#   mvrun test examples/harness/spec.hcl
# HARNESS_CGO=static builds it with cgo, linked statically against glibc
# (as a harness that needs the Antithesis SDK's cgo build runs on hv);
# HARNESS_CGO=dynamic with cgo as a dynamic executable (process, docker).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(realpath -m "${HARNESS_ROOT:-./root}")
T="$ROOT/opt/antithesis/test/v1/volume"
mkdir -p "$ROOT/bin" "$T"
case "${HARNESS_CGO:-}" in
  "") CGO_ENABLED=0 go build -o "$ROOT/bin/harness" ./harness ;;
  static) CGO_ENABLED=1 go build -ldflags '-linkmode external -extldflags "-static"' -o "$ROOT/bin/harness" ./harness ;;
  dynamic) CGO_ENABLED=1 go build -o "$ROOT/bin/harness" ./harness ;;
  *) echo "HARNESS_CGO must be static or dynamic" >&2; exit 2 ;;
esac
for n in first_config singleton_driver_read finally_read; do
  ln -f "$ROOT/bin/harness" "$T/$n"
done
echo "not a command" > "$T/helper_notes.txt"
printf 'FROM scratch\nCOPY . /\n' > "$ROOT/Dockerfile"
echo "built $ROOT"
