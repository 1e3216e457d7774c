#!/usr/bin/env bash
# fuzz.sh GO FUZZTIME PKG:TARGET... runs each fuzz target for FUZZTIME
# beyond its seed corpus (make fuzz). A crash the fuzzer finds is written to
# PKG/testdata/fuzz/TARGET and fails the run.
#
# Go 1.26's fuzzing coordinator can report its own -fuzztime deadline as a
# failure ("context deadline exceeded") when a worker is slow to stop on a
# loaded machine (golang/go#75804, fixed in Go 1.27). Such a run found
# nothing: no input was written. Only that failure, and only once per
# target, is run again; every other failure fails at once.
set -uo pipefail
go=$1 fuzztime=$2
shift 2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "$@"; do
	pkg=${t%%:*} name=${t##*:}
	corpus=$pkg/testdata/fuzz/$name
	for attempt in 1 2; do
		before=$(ls "$corpus" 2>/dev/null)
		echo "fuzz $name ($pkg, $fuzztime)"
		"$go" test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" "./$pkg" 2>&1 | tee "$log"
		[ "${PIPESTATUS[0]}" -eq 0 ] && break
		if [ "$attempt" -eq 1 ] && [ "$(ls "$corpus" 2>/dev/null)" = "$before" ] &&
			grep -qx '    context deadline exceeded' "$log"; then
			echo "fuzz $name: Go's fuzzing coordinator failed on its own stop deadline and wrote no input (golang/go#75804); running it again"
			continue
		fi
		exit 1
	done
done
