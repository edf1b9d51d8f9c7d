#!/usr/bin/env bash
# Local proof of the AMI's boot path: lays out what packer/install.sh
# installs (the binary, /etc/cadbox/env, the data directory, the runtime
# secret file) under a temporary root, seeds N incidents into the data
# directory, and measures the time from starting `cadbox serve` with exactly
# the unit's environment to the first 200 from /readyz. Fails above LIMIT_MS.
#
#   make build && packer/local-boot-test.sh            # N=1000000, LIMIT_MS=2000
#   N=10000 packer/local-boot-test.sh                  # quicker
#   DATA=/path/to/seeded/dir packer/local-boot-test.sh # reuse a seeded store
#
# Phases: (1) seed (offline), (2) a first start that lets the search index
# catch up, stopped with SIGTERM as systemd would, (3) the measured start:
# what a replacement instance does with the data volume it re-attaches.
# DROP_CACHES=1 (root) empties the page cache before (3), like a fresh machine.
set -euo pipefail

cd "$(dirname "$0")/.."
N="${N:-1000000}"
LIMIT_MS="${LIMIT_MS:-2000}"
BIN="${CADBOX_BIN:-bin/cadbox}"
READY_TIMEOUT_MS="${READY_TIMEOUT_MS:-30000}"      # the measured start
WARMUP_TIMEOUT_MS="${WARMUP_TIMEOUT_MS:-3600000}"  # first start: index build
SHUTDOWN_LIMIT_MS="${SHUTDOWN_LIMIT_MS:-30000}"    # systemd's TimeoutStopSec

log() { printf 'local-boot-test: %s\n' "$*" >&2; }
die() {
  log "FAIL: $*"
  exit 1
}

[[ -x "$BIN" ]] || die "$BIN not found: run make build first"
command -v curl >/dev/null || die "curl is required"
[[ "$N" =~ ^[0-9]+$ ]] || die "N must be a number"

# Milliseconds since the epoch without forking (bash 5).
now_ms() {
  local t=${EPOCHREALTIME/[.,]/}
  printf '%s' "$((t / 1000))"
}

# A pipe nobody writes to: `read -t` on it waits for the poll interval
# without forking a process per probe.
exec {tick}<> <(:)
pause() { read -r -t "$1" -u "$tick" _ || true; }

root="$(mktemp -d "${TMPDIR:-/tmp}/cadbox-boot.XXXXXX")"
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  if [[ -n "${KEEP:-}" ]]; then
    log "kept $root"
  else
    rm -rf "$root"
  fi
}
trap cleanup EXIT

# A free loopback port (the AMI uses 8080; here something else may).
port=""
for _ in $(seq 1 50); do
  candidate=$((20000 + RANDOM % 20000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
    port=$candidate
    break
  fi
done
[[ -n "$port" ]] || die "no free port"

# The installed layout, as packer/install.sh and cadbox-secrets.service make it.
install -d -m 0755 "$root/usr/local/bin" "$root/etc/cadbox"
install -d -m 0700 "$root/run/cadbox"
install -m 0755 "$BIN" "$root/usr/local/bin/cadbox"
datadir="$root/var/lib/cadbox"
if [[ -n "${DATA:-}" ]]; then
  [[ -d "$DATA" ]] || die "DATA=$DATA is not a directory"
  datadir="$(cd "$DATA" && pwd)"
else
  install -d -m 0750 "$datadir"
fi
sed -e "s|^CADBOX_DATA_DIR=.*|CADBOX_DATA_DIR=$datadir|" \
  -e "s|^CADBOX_ADDR=.*|CADBOX_ADDR=127.0.0.1:$port|" \
  packer/files/cadbox.env >"$root/etc/cadbox/env"
grep -q "^CADBOX_DATA_DIR=$datadir\$" "$root/etc/cadbox/env" || die "cadbox.env has no CADBOX_DATA_DIR line"
grep -q "^CADBOX_ADDR=127.0.0.1:$port\$" "$root/etc/cadbox/env" || die "cadbox.env has no CADBOX_ADDR line"
(
  umask 077
  printf 'CADBOX_ADMIN_TOKEN=%s\n' "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" >"$root/run/cadbox/secret.env"
)

# The process environment systemd gives cadbox.service: the two
# EnvironmentFiles and nothing inherited from this shell.
unit_env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "HOME=$datadir")
for f in "$root/etc/cadbox/env" "$root/run/cadbox/secret.env"; do
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ -z "$line" || "$line" == \#* ]] && continue
    unit_env+=("$line")
  done <"$f"
done
# env execs cadbox, so $! of a backgrounded `cadbox_env ... &` is cadbox itself.
cadbox_env=(env -i "${unit_env[@]}" "$root/usr/local/bin/cadbox")

url="http://127.0.0.1:$port/readyz"

# start_and_wait TIMEOUT_MS INTERVAL_S: start `cadbox serve`; set ready_ms to
# the milliseconds from just before the fork to the first /readyz 200.
start_and_wait() {
  local timeout_ms=$1 interval=$2 start deadline code
  start="$(now_ms)"
  "${cadbox_env[@]}" serve >>"$root/serve.log" 2>&1 &
  pid=$!
  deadline=$((start + timeout_ms))
  while :; do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)"
    if [[ "$code" == 200 ]]; then
      ready_ms=$(($(now_ms) - start))
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || {
      tail -n 20 "$root/serve.log" >&2
      die "cadbox serve exited before it was ready"
    }
    (($(now_ms) < deadline)) || {
      tail -n 20 "$root/serve.log" >&2
      die "/readyz not 200 within ${timeout_ms} ms (last status ${code:-none})"
    }
    pause "$interval"
  done
}

# stop: SIGTERM, as systemd does; must exit within TimeoutStopSec.
stop() {
  local start code=0
  start="$(now_ms)"
  kill -TERM "$pid"
  wait "$pid" || code=$?
  pid=""
  local took=$(($(now_ms) - start))
  log "stopped with SIGTERM in ${took} ms (exit status $code)"
  if curl -s -o /dev/null --max-time 1 "$url"; then
    die "something still answers on $url after cadbox exited"
  fi
  ((took <= SHUTDOWN_LIMIT_MS)) || die "shutdown took ${took} ms, above TimeoutStopSec"
}

if [[ -z "${DATA:-}" ]]; then
  log "seeding $N incidents into $datadir"
  t0="$(now_ms)"
  "${cadbox_env[@]}" seed -n "$N" >"$root/seed.log" 2>&1 || {
    tail -n 20 "$root/seed.log" >&2
    die "cadbox seed failed"
  }
  log "seeded in $(($(now_ms) - t0)) ms; store is $(du -sh "$datadir" | cut -f1)"
fi

log "first start (search index catches up)"
start_and_wait "$WARMUP_TIMEOUT_MS" 0.1
log "first start ready in ${ready_ms} ms"
stop

if [[ -n "${DROP_CACHES:-}" ]]; then
  sync
  echo 3 >/proc/sys/vm/drop_caches || die "DROP_CACHES needs root"
  log "page cache dropped"
fi

log "measured start: process start to first /readyz 200, probing every 10 ms"
start_and_wait "$READY_TIMEOUT_MS" 0.01
stop

echo "$ready_ms"
log "ready in ${ready_ms} ms with N=$N incidents (limit ${LIMIT_MS} ms)"
((ready_ms <= LIMIT_MS)) || die "ready in ${ready_ms} ms, above ${LIMIT_MS} ms"
log "PASS"
