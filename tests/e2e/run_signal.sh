#!/usr/bin/env bash
# Stopping on a signal (Slurm preemption, scancel, Ctrl-C): rank 0 stops dispatching, lets the
# running items finish, commits them, releases everything else and exits 75. Checked on the
# commit log of djrun selftest: every planned item is done or released exactly once.
#   - SIGTERM to every rank (what scancel / preemption does to an srun step): exit 75
#   - SIGUSR1 to mpirun (mpirun forwards USR1 to every rank): exit 75 through mpirun
#   - SIGTERM to mpirun: Open MPI 4.1's mpirun handles it itself (SIGTERM to the ranks 1 s
#     later, SIGKILL 1 s after that) and exits 1 whatever the ranks return; rank 0 settles every
#     item inside that second, and its own summary says 75
#   - items longer than --drain-timeout: released, rank 0 exits 75 without waiting for them
#   - in one process, no launcher: exit 75
set -uo pipefail
: "${DJRUN:?}" "${MPIEXEC:?}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0
check() { if eval "$2"; then passes=$((passes + 1)); else echo "FAIL: $1" >&2; fails=$((fails + 1)); fi; }

printf 'leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libhwloc.so\nleak:libpmix.so\nleak:libevent\nleak:mca_\n' >"$tmp/lsan.supp"
export OMPI_MCA_mca_base_component_disable_dlclose=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$tmp/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"

# settled FILE N: "done released dup missing" for items 1..N of a commit log
settled() {
	python3 - "$@" <<'PY'
import sys
seen, cnt, dup = set(), {"done": 0, "failed": 0, "released": 0}, 0
for line in open(sys.argv[1]):
    kind, item = line.split()[:2]
    dup += item in seen
    seen.add(item)
    cnt[kind] += 1
    if kind == "done":
        n = int(item)
        dup += int(line.split()[2]) != n * n + 1  # a wrong result counts as a defect too
missing = int(sys.argv[2]) - len(seen)
print(cnt["done"], cnt["released"], dup, missing)
PY
}
json_get() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])[sys.argv[2]])' "$1" "$2"; }
# wait_lines FILE N: until the commit log has N lines (the run is under way), at most 30 s
wait_lines() {
	for _ in $(seq 300); do
		[ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# start NAME NRANKS ARGS...: the selftest in the background (NRANKS 0 = no mpirun)
start() {
	local name=$1 n=$2
	shift 2
	mkdir -p "$tmp/$name"
	if [ "$n" = 0 ]; then
		"$DJRUN" selftest run --out "$tmp/$name.out" --pid-dir "$tmp/$name" --json "$@" \
			>"$tmp/$name.json" 2>"$tmp/$name.err" &
	else
		# mpirun's own --timeout, not timeout(1): the signals must reach mpirun itself
		"$MPIEXEC" --timeout 60 --oversubscribe -n "$n" "$DJRUN" selftest run --out "$tmp/$name.out" \
			--pid-dir "$tmp/$name" --json "$@" >"$tmp/$name.json" 2>"$tmp/$name.err" &
	fi
	pid=$!
}
# finish NAME: wait for the run; sets rc and secs (from the signal to the end)
finish() {
	local t0=$SECONDS
	wait "$pid"
	rc=$?
	secs=$((SECONDS - t0))
}
expect_settled() { # NAME N: every item done or released exactly once, results right
	read -r d r dup miss <<<"$(settled "$tmp/$1.out" "$2")"
	check "$1: every item settled once ($d done, $r released, $dup dup, $miss missing)" \
		"[ $dup = 0 ] && [ $miss = 0 ] && [ $d -ge 1 ] && [ $r -ge 1 ]"
}

# 1. SIGTERM to every rank, as Slurm does to the tasks of a step.
start term_all 4 --items 300 --sleep-ms 100
wait_lines "$tmp/term_all.out" 5
kill -TERM $(cat "$tmp"/term_all/rank.*)
finish term_all
check "SIGTERM to every rank: exit 75 (got $rc: $(tail -2 "$tmp/term_all.err" | tr '\n' ' '))" "[ $rc -eq 75 ]"
check "SIGTERM to every rank: done within 30 s (took $secs s)" "[ $secs -le 30 ]"
expect_settled term_all 300
check "SIGTERM to every rank: summary says signal 15" "[ \"\$(json_get $tmp/term_all.json signal)\" = 15 ]"

# 2. SIGUSR1 to mpirun: forwarded to every rank.
start usr1 3 --items 300 --sleep-ms 100
wait_lines "$tmp/usr1.out" 5
kill -USR1 $pid
finish usr1
check "SIGUSR1 to mpirun: exit 75 (got $rc)" "[ $rc -eq 75 ]"
expect_settled usr1 300

# 3. SIGTERM to mpirun itself.
start term_mpirun 4 --items 300 --sleep-ms 100
wait_lines "$tmp/term_mpirun.out" 5
kill -TERM $pid
finish term_mpirun
check "SIGTERM to mpirun: mpirun exits non-zero (got $rc; Open MPI 4.1 gives 1)" "[ $rc -ne 0 ]"
check "SIGTERM to mpirun: rank 0 drained (its summary says exit 75)" \
	"[ \"\$(json_get $tmp/term_mpirun.json exit)\" = 75 ]"
expect_settled term_mpirun 300

# 4. Items longer than the drain timeout: released; rank 0 leaves without them.
start slow 3 --items 40 --sleep-ms 6000 --drain-timeout 1
wait_lines "$tmp/slow.out" 1
kill -TERM $(cat "$tmp"/slow/rank.*)
finish slow
check "drain timeout: exit 75 (got $rc)" "[ $rc -eq 75 ]"
check "drain timeout: over in under 6 s, not after the items (took $secs s)" "[ $secs -lt 6 ]"
expect_settled slow 40

# 5. One process, no launcher.
start local 0 --items 300 --sleep-ms 20
wait_lines "$tmp/local.out" 1 || true
sleep 0.3
kill -TERM $pid
finish local
check "in-process SIGTERM: exit 75 (got $rc)" "[ $rc -eq 75 ]"
expect_settled local 300

echo "run_signal: $passes passed, $fails failed"
[ $fails -eq 0 ]
