#!/usr/bin/env bash
# Interruption soak: starts `mvrun test` on scripts/soak/spec.hcl, kills it
# with SIGINT, SIGTERM or SIGKILL at a random moment, N times (default 100),
# then does one clean run and checks that nothing of mvrun's is left:
# processes, network namespaces, links, nftables tables, mounts, cgroups,
# containers, VMs (hv runs are processes holding /dev/kvm) and temp dirs.
# Needs root (the process backend). Usage:
#
#   scripts/soak/interrupt.sh [N] [BACKEND]      # defaults: 100 process
#
# Exit 0 when every interrupted run ended (SIGINT/SIGTERM within 60 s) and
# nothing was left; 1 otherwise. MAX_DELAY (seconds, default 12) bounds the
# random moment; SEED makes the moments repeatable.
set -uo pipefail
cd "$(dirname "$0")/../.."

n=${1:-100}
backend=${2:-process}
max_delay=${MAX_DELAY:-12}
RANDOM=${SEED:-$$}
work=$(mktemp -d /tmp/soak.XXXXXX)
bin=$work/mvrun
go build -o "$bin" ./cmd/mvrun || exit 1
cd "$work"
spec=$OLDPWD/scripts/soak/spec.hcl

hangs=0
declare -A by_sig=() codes=()
for i in $(seq 1 "$n"); do
  sigs=(INT TERM KILL)
  sig=${sigs[$((RANDOM % 3))]}
  # A moment in [0, max_delay) seconds, in milliseconds.
  delay_ms=$((RANDOM * 32768 + RANDOM))
  delay_ms=$((delay_ms % (max_delay * 1000)))
  "$bin" test "$spec" --backend "$backend" --seeds 4 >"$work/run.out" 2>"$work/run.err" &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  kill -s "$sig" "$pid" 2>/dev/null
  # SIGINT and SIGTERM must end the run, cleaned up, within 60 s.
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "run $i: still running 60 s after SIG$sig at ${delay_ms}ms; killing it"
    hangs=$((hangs + 1))
    kill -KILL "$pid"
  fi
  # (braces: keep bash's "Killed" job notice out of the output)
  { wait "$pid"; } 2>/dev/null
  code=$?
  by_sig[$sig]=$((${by_sig[$sig]:-0} + 1))
  codes[$sig:$code]=$((${codes[$sig:$code]:-0} + 1))
done

echo "interrupted $n runs: $(for s in "${!by_sig[@]}"; do printf '%s %d  ' "SIG$s" "${by_sig[$s]}"; done)"
echo "exit codes: $(for k in $(printf '%s\n' "${!codes[@]}" | sort); do printf '%s:%d  ' "$k" "${codes[$k]}"; done)"

# One clean run: it sweeps what the killed runs left.
"$bin" test "$spec" --backend "$backend" --seeds 1 >"$work/clean.out" 2>"$work/clean.err"
clean=$?
echo "clean run: exit $clean ($(tail -1 "$work/clean.out"))"
if [ "$clean" -ne 0 ] && [ "$clean" -ne 1 ]; then
  echo "clean run failed:"; tail -20 "$work/clean.err"
fi

# live RUN_ID: whether the process-backend run RUN_ID (5 hex digits) is
# still running: its owner ("pid starttime") names a live process. Other
# mvrun runs on a shared machine (other users, test suites) are not the
# soak's leftovers.
live() {
  local owner pid
  owner=$(cat "/run/mvrun/$1/owner" 2>/dev/null) || return 1
  pid=${owner%% *}
  [ -n "$pid" ] && [ "$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null)" = "${owner#* }" ]
}

left=()
# Processes: anything carrying the marker of a run that is not alive.
for p in /proc/[0-9]*; do
  run=$({ tr '\0' '\n' <"$p/environ"; } 2>/dev/null | sed -n 's/^MVRUN_RUN=//p')
  if [ -n "$run" ] && ! live "${run%%.*}"; then
    left+=("process $(basename "$p"): $({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | cut -c1-80)")
  fi
done
if pgrep -f "^$bin " >/dev/null; then left+=("mvrun processes: $(pgrep -f "^$bin " | tr '\n' ' ')"); fi
# Network namespaces and links of the process backend (names start mvp).
for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
  case $ns in mvp*) live "${ns:3:5}" || left+=("netns $ns") ;; esac
done
for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
  case $l in mvp*) live "${l:3:5}" || left+=("link $l") ;; esac
done
if command -v nft >/dev/null; then
  for t in $(nft list tables 2>/dev/null | awk '{print $3}'); do
    case $t in *mvrun* | mvp*) left+=("nftables table $t") ;; esac
  done
fi
while read -r _ mnt _; do
  case $mnt in
    /run/netns/mvp*) live "${mnt:14:5}" || left+=("mount $mnt") ;;
    *mvrun* | */mvp*) left+=("mount $mnt") ;;
  esac
done </proc/mounts
# Cgroups under the cgroup v2 hierarchy's mvrun directory.
cg2=$(awk '$9 == "cgroup2" && $4 == "/" {print $5; exit}' FS=' ' /proc/self/mountinfo)
if [ -n "$cg2" ] && [ -d "$cg2/mvrun" ]; then
  for d in "$cg2"/mvrun/*/; do [ -d "$d" ] && ! live "$(basename "$d")" && left+=("cgroup $d"); done
fi
if docker info >/dev/null 2>&1; then
  # A container whose owner ("pid starttime") still runs belongs to a live run.
  while read -r c owner; do
    [ -n "$c" ] || continue
    pid=${owner%% *}
    [ -n "$pid" ] && [ "$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null)" = "${owner#* }" ] && continue
    left+=("container $c")
  done < <(docker ps -a --filter label=mvrun.run --format '{{.ID}} {{.Label "mvrun.owner"}}')
fi
# hv VMs live in the mvrun process that made them: any process of ours
# still holding /dev/kvm is one (other programs' VMs are not ours).
for p in /proc/[0-9]*; do
  if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q "^$bin " && ls -l "$p/fd" 2>/dev/null | grep -q '/dev/kvm'; then
    left+=("VM holder $(basename "$p")")
  fi
done
[ -d /run/mvrun ] && for d in /run/mvrun/*/; do [ -d "$d" ] && ! live "$(basename "$d")" && left+=("state dir $d"); done
for d in /tmp/mvrun-catalog-* /tmp/mvrun-compose-override-* /tmp/mvrun-docker-ctx-* /tmp/mvrun-oci-* /tmp/mvrun-canrun-*; do
  [ -e "$d" ] || continue
  # A catalog directory whose owner still runs belongs to a live build
  # (another mvrun on this machine), not to the soak.
  if [ -f "$d/owner" ] && kill -0 "$(cut -d' ' -f1 "$d/owner")" 2>/dev/null; then continue; fi
  left+=("temp $d")
done

echo "left behind: ${#left[@]}"
for l in "${left[@]}"; do echo "  $l"; done
echo "runs that did not stop within 60 s of SIGINT/SIGTERM: $hangs"
rm -rf "$work"
[ "${#left[@]}" -eq 0 ] && [ "$hangs" -eq 0 ]
