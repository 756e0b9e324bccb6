#!/usr/bin/env bash
# A worker rank killed with SIGKILL mid-run (djrun selftest, 4 ranks). What Open MPI 4.1 does,
# and what the coordinator makes of it:
#   - default mpirun: it aborts the whole job (SIGTERM to every rank 1 s after the death,
#     SIGKILL 1 s later) and exits non-zero. Rank 0 takes the SIGTERM as a drain, gives up the
#     silent worker after two missed heartbeats, commits what finished and releases the rest.
#     Asserted: nothing committed twice, results right, at most the dead worker's queue
#     (--max-inflight) left unsettled (normally none: the summary is printed).
#   - mpirun --enable-recovery: the survivors go on. Rank 0 notices the silence
#     (--worker-timeout), dispatches the dead worker's items again, and the run completes:
#     exit 0, every item committed exactly once. Caveat (measured): with --enable-recovery,
#     mpirun 4.1 exits 0 whatever the ranks return, so the exit code is read from rank 0's
#     --json summary ("exit") below. And MPI_Finalize's closing fence waits for the dead rank
#     (hung 1 run in 2 here): djrun sets OMPI_MCA_async_mpi_finalize=1 unless already set.
#   - an item that kills every worker it runs on (--kill-on): tried on two workers, then it
#     fails ("lost worker twice"); the rest completes; exit 1.
#   - the only worker dies: no worker left, rank 0 releases everything and exits 1.
set -uo pipefail
: "${DJRUN:?}" "${MPIEXEC:?}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0
check() { if eval "$2"; then passes=$((passes + 1)); else echo "FAIL: $1" >&2; fails=$((fails + 1)); fi; }

printf 'leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libhwloc.so\nleak:libpmix.so\nleak:libevent\nleak:mca_\n' >"$tmp/lsan.supp"
export OMPI_MCA_mca_base_component_disable_dlclose=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$tmp/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"

# tally FILE N: "done failed released dup missing" for items 1..N; a wrong result is a dup
tally() {
	python3 - "$@" <<'PY'
import sys
seen, cnt, dup = set(), {"done": 0, "failed": 0, "released": 0}, 0
for line in open(sys.argv[1]):
    f = line.split()
    dup += f[1] in seen or (f[0] == "done" and int(f[2]) != int(f[1]) ** 2 + 1)
    seen.add(f[1])
    cnt[f[0]] += 1
print(cnt["done"], cnt["failed"], cnt["released"], dup, int(sys.argv[2]) - len(seen))
PY
}
json_get() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])[sys.argv[2]])' "$1" "$2"; }
wait_lines() {
	for _ in $(seq 300); do
		[ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
run_bg() { # NAME NRANKS MPIRUN-FLAGS -- SELFTEST-ARGS...
	local name=$1 n=$2 flags=()
	shift 2
	while [ "$1" != -- ]; do flags+=("$1"); shift; done
	shift
	mkdir -p "$tmp/$name"
	"$MPIEXEC" --timeout 50 --oversubscribe "${flags[@]}" -n "$n" "$DJRUN" selftest run \
		--out "$tmp/$name.out" --pid-dir "$tmp/$name" --json "$@" \
		>"$tmp/$name.json" 2>"$tmp/$name.err" &
	pid=$!
}

# 1. Default mpirun: the job is aborted, rank 0 drains in the second it is given.
run_bg abort 4 -- --items 150 --sleep-ms 50 --max-inflight 4
wait_lines "$tmp/abort.out" 5
kill -KILL "$(cat "$tmp/abort/rank.2")"
wait $pid
rc=$?
check "default mpirun: the job is aborted (exit $rc)" "[ $rc -ne 0 ]"
read -r d f r dup miss <<<"$(tally "$tmp/abort.out" 150)"
check "default mpirun: nothing twice, results right ($dup)" "[ $dup = 0 ]"
check "default mpirun: at most the dead worker's queue unsettled ($d done, $r released, $miss left)" \
	"[ $miss -le 4 ] && [ $f = 0 ]"
echo "default mpirun, worker killed: exit $rc, $d done, $r released, $miss unsettled" >&2

# 2. --enable-recovery: the run completes without the dead worker.
run_bg recover 4 --enable-recovery -- --items 300 --sleep-ms 50 --worker-timeout 2
wait_lines "$tmp/recover.out" 5
kill -KILL "$(cat "$tmp/recover/rank.2")"
wait $pid
rc=$?
check "--enable-recovery: exit 0 (got $rc: $(grep -v '^ *#' "$tmp/recover.err" | tail -2 | tr '\n' ' '))" \
	"[ $rc -eq 0 ]"
check "--enable-recovery: every item done exactly once" \
	"[ \"\$(tally $tmp/recover.out 300)\" = '300 0 0 0 0' ]"
check "--enable-recovery: one worker lost, its items dispatched again" \
	"[ \"\$(json_get $tmp/recover.json workers_lost)\" = 1 ] && [ \"\$(json_get $tmp/recover.json redispatched)\" -ge 1 ]"

# 3. A poison item: kills each worker it runs on; tried twice, then failed.
run_bg poison 4 --enable-recovery -- --items 60 --sleep-ms 20 --kill-on 10 --worker-timeout 3
wait $pid
rc=$?
check "poison item: rank 0 exits 1 (mpirun gave $rc)" "[ \"\$(json_get $tmp/poison.json exit)\" = 1 ]"
check "poison item: item 10 failed, the other 59 done once" \
	"[ \"\$(tally $tmp/poison.out 60)\" = '59 1 0 0 0' ] && grep -q '^failed 10 .*lost worker twice' $tmp/poison.out"
check "poison item: two workers lost" "[ \"\$(json_get $tmp/poison.json workers_lost)\" = 2 ]"

# 4. The only worker dies: nothing can finish; everything left is released.
run_bg alone 2 --enable-recovery -- --items 100 --sleep-ms 20 --kill-on 30 --worker-timeout 3
wait $pid
rc=$?
read -r d f r dup miss <<<"$(tally "$tmp/alone.out" 100)"
check "no worker left: rank 0 exits 1 (mpirun gave $rc)" "[ \"\$(json_get $tmp/alone.json exit)\" = 1 ]"
check "no worker left: 29 done, the rest released ($d done, $r released, $miss missing)" \
	"[ $d = 29 ] && [ $r = 71 ] && [ $dup = 0 ] && [ $miss = 0 ]"
check "no worker left: the error says so" "grep -q 'no worker rank left' $tmp/alone.err"

echo "run_worker_killed: $passes passed, $fails failed"
[ $fails -eq 0 ]
