#!/usr/bin/env bash
# make fuzz: runs every Go fuzz target of the module, one at a time, for
# FUZZ_EXECS executions each (default 1,000,000), and stops at the first
# failure with the failing input's path. Prints a summary: target, package,
# executions and time.
#
# Environment:
#   FUZZ_EXECS          executions per target (default 1000000)
#   FUZZ_PARALLEL       fuzzing worker processes (default 2)
#   FUZZ_MINIMIZE_TIME  cap on minimizing each new input (default 10s); the
#                       engine minimizes every input that finds new coverage,
#                       and incident-sized inputs would otherwise take a
#                       minute each
#   FUZZ_MATCH          only targets whose name matches this regexp
#   GO                  the go command (default go)
#
# Execution counts, not durations: a -fuzztime duration can end a run with a
# spurious "context deadline exceeded" (golang/go#75804, not fixed in 1.26).
set -euo pipefail

cd "$(dirname "$0")/.."
execs="${FUZZ_EXECS:-1000000}"
parallel="${FUZZ_PARALLEL:-2}"
minimize="${FUZZ_MINIMIZE_TIME:-10s}"
match="${FUZZ_MATCH:-.}"
go="${GO:-go}"

if ! [[ $execs =~ ^[1-9][0-9]*$ ]]; then
	echo "fuzz: FUZZ_EXECS must be a positive number of executions, got '$execs'" >&2
	exit 2
fi

logs="$(mktemp -d "${TMPDIR:-/tmp}/cadbox-fuzz.XXXXXX")"
trap 'rm -rf "$logs"' EXIT

# Discover the targets: go test -list prints a package's matching names,
# then its "ok <package>" line.
echo "fuzz: listing the fuzz targets"
if ! "$go" test -list '^Fuzz' ./... >"$logs/list" 2>&1; then
	cat "$logs/list" >&2
	echo "fuzz: could not list the fuzz targets (the tests do not build)" >&2
	exit 1
fi
targets=() names=()
while read -r first second _; do
	case "$first" in
	Fuzz*) names+=("$first") ;;
	ok)
		for n in "${names[@]}"; do
			if [[ $n =~ $match ]]; then
				targets+=("$second $n")
			fi
		done
		names=()
		;;
	*) names=() ;;
	esac
done <"$logs/list"
if ((${#targets[@]} == 0)); then
	echo "fuzz: no fuzz target matches '$match'" >&2
	exit 1
fi
echo "fuzz: ${#targets[@]} targets, $execs executions each, $parallel workers"

summary=()
total_start=$SECONDS
for t in "${targets[@]}"; do
	pkg=${t% *} name=${t#* }
	echo "== $name ($pkg)"
	start=$SECONDS
	status=0
	# -timeout 0: a million executions outlast go test's default 10 minutes.
	"$go" test -run '^$' -fuzz "^${name}\$" -fuzztime "${execs}x" -fuzzminimizetime "$minimize" \
		-parallel "$parallel" -timeout 0 "$pkg" 2>&1 | tee "$logs/$name.log" || status=$?
	took=$((SECONDS - start))
	done_execs=$(grep -o 'execs: [0-9]*' "$logs/$name.log" | tail -n 1 | cut -d' ' -f2 || true)
	if ((status != 0)) || ! grep -q '^ok' "$logs/$name.log"; then
		echo
		echo "FUZZ FAILURE: $name in $pkg after ${took}s (${done_execs:-0} executions)."
		input=$(grep -o 'Failing input written to [^ ]*' "$logs/$name.log" | tail -n 1 | cut -d' ' -f5 || true)
		if [[ -n $input ]]; then
			dir=$("$go" list -f '{{.Dir}}' "$pkg")
			echo "The failing input is $dir/$input. Keep it: it is now part of the seed corpus,"
			echo "so plain go test runs it until the bug is fixed. Reproduce with:"
			echo "  go test -run '^${name}/$(basename "$input")\$' $pkg"
		else
			echo "No failing input was written (a build error, or the fuzzer itself failed): see the output above."
		fi
		exit 1
	fi
	summary+=("$(printf '%-24s %-22s %10s %7ds' "$name" "$pkg" "${done_execs:-?}" "$took")")
done

echo
echo "fuzz: every target passed"
printf '%-24s %-22s %10s %8s\n' target package execs time
printf '%s\n' "${summary[@]}"
printf 'total %ds\n' $((SECONDS - total_start))
