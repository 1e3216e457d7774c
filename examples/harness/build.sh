#!/usr/bin/env bash
# Builds the harness into ${HARNESS_ROOT:-./root}, laid out as its image:
# bin/harness, the test-composer template directory (its commands are the
# harness binary under the names of their roles, plus a helper_ file that
# mvrun ignores) and a FROM scratch Dockerfile. Then:
#   mvrun test examples/harness/spec.hcl
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(realpath -m "${HARNESS_ROOT:-./root}")
T="$ROOT/opt/antithesis/test/v1/volume"
mkdir -p "$ROOT/bin" "$T"
CGO_ENABLED=0 go build -o "$ROOT/bin/harness" ./harness
for n in first_config singleton_driver_read finally_read; do
  ln -f "$ROOT/bin/harness" "$T/$n"
done
echo "not a command" > "$T/helper_notes.txt"
printf 'FROM scratch\nCOPY . /\n' > "$ROOT/Dockerfile"
echo "built $ROOT"
