#!/usr/bin/env bash
# The coordinator under mpirun with 1, 2 and 4 ranks (djrun selftest, a toy job whose commit
# log stands in for the database): every item committed exactly once with the right result;
# items spread over all workers (dynamic dispatch) and none worked by rank 0; failed items
# counted and reported with exit code 1; --stop-on-error stops dispatching and releases the
# rest, nothing twice.
set -uo pipefail
: "${DJRUN:?}" "${MPIEXEC:?}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0
check() { if eval "$2"; then passes=$((passes + 1)); else echo "FAIL: $1" >&2; fails=$((fails + 1)); fi; }

# Open MPI's own allocations are never freed: keep LeakSanitizer on for our code only.
printf 'leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libhwloc.so\nleak:libpmix.so\nleak:libevent\nleak:mca_\n' >"$tmp/lsan.supp"
export OMPI_MCA_mca_base_component_disable_dlclose=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$tmp/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"
mpi() { timeout 50 "$MPIEXEC" --oversubscribe "$@"; }

# summary FILE N [K]: one line of counts from a commit log of items 1..N (K = --fail-every):
# done failed released dup bad missing ranks(comma list of ranks that did items)
summary() {
	python3 - "$@" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
k = int(sys.argv[3]) if len(sys.argv) > 3 else 0
seen, cnt, dup, bad, ranks = {}, {"done": 0, "failed": 0, "released": 0}, 0, 0, set()
for line in open(path):
    f = line.split()
    kind, item = f[0], int(f[1])
    dup += item in seen
    seen[item] = kind
    cnt[kind] += 1
    if kind == "done":
        bad += int(f[2]) != item * item + 1 or (k and item % k == 0)
        ranks.add(int(f[3]))
    if kind == "failed":
        bad += not (k and item % k == 0) or "fails by design" not in line
missing = sum(1 for i in range(1, n + 1) if i not in seen)
print(cnt["done"], cnt["failed"], cnt["released"], dup, bad, missing,
      ",".join(map(str, sorted(ranks))) or "-")
PY
}
json_get() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])[sys.argv[2]])' "$1" "$2"; }

# In one process, no launcher: the same callbacks in a plain loop.
"$DJRUN" selftest run --items 300 --out "$tmp/local.out" --json >"$tmp/local.json"
check "local run exits 0" "[ $? -eq 0 ]"
check "local: 300 done once, right values" "[ \"\$(summary $tmp/local.out 300)\" = '300 0 0 0 0 0 0' ]"
check "local: JSON summary says 1 rank, complete" \
	"[ \"\$(json_get $tmp/local.json ranks) \$(json_get $tmp/local.json complete)\" = '1 True' ]"

for n in 1 2 4; do
	out=$tmp/n$n.out
	mpi -n $n "$DJRUN" selftest run --items 600 --sleep-ms 1 --batch 50 --out "$out" --json \
		>"$tmp/n$n.json" 2>"$tmp/n$n.err"
	rc=$?
	check "-n $n exits 0 (got $rc: $(tail -3 "$tmp/n$n.err" | tr '\n' ' '))" "[ $rc -eq 0 ]"
	read -r d f r dup bad miss ranks <<<"$(summary "$out" 600)"
	check "-n $n: every item done exactly once with n*n+1 ($d done, $dup dup, $bad bad, $miss missing)" \
		"[ $d = 600 ] && [ $dup = 0 ] && [ $bad = 0 ] && [ $miss = 0 ]"
	case $n in
	1) want=0 ;;
	2) want=1 ;;
	4) want=1,2,3 ;;
	esac
	check "-n $n: items worked by ranks $want (got $ranks)" "[ '$ranks' = '$want' ]"
	check "-n $n: JSON summary: ranks $n, done 600" \
		"[ \"\$(json_get $tmp/n$n.json ranks) \$(json_get $tmp/n$n.json done)\" = '$n 600' ]"
done

# Failures: counted, reported per item and in the summary, exit 1; the run goes on.
mpi -n 4 "$DJRUN" selftest run --items 500 --fail-every 7 --sleep-ms 1 --out "$tmp/fail.out" --json \
	>"$tmp/fail.json" 2>"$tmp/fail.err"
rc=$?
check "failures: exit 1 (got $rc)" "[ $rc -eq 1 ]"
check "failures: 429 done, 71 failed, none twice, messages kept" \
	"[ \"\$(summary $tmp/fail.out 500 7)\" = '429 71 0 0 0 0 1,2,3' ]"
check "failures: work's details reach commit from the worker rank" \
	"grep -q '^failed 14 \\[detail-14\\] item 14 fails by design' $tmp/fail.out"
check "failures: summary counts 71 failed" "[ \"\$(json_get $tmp/fail.json failed)\" = 71 ]"
check "failures: a per-item JSON line names the error" \
	"grep -q '\"item\":\"7\",\"outcome\":\"failed\".*fails by design' $tmp/fail.json"

# --stop-on-error: no item after the failure is dispatched; what was planned is released.
mpi -n 4 "$DJRUN" selftest run --items 2000 --fail-every 50 --sleep-ms 2 --stop-on-error \
	--out "$tmp/stop.out" --json >"$tmp/stop.json" 2>"$tmp/stop.err"
rc=$?
check "stop-on-error: exit 1 (got $rc)" "[ $rc -eq 1 ]"
read -r d f r dup bad miss ranks <<<"$(summary "$tmp/stop.out" 2000 50)"
planned=$(json_get "$tmp/stop.json" planned)
check "stop-on-error: stopped early ($d done, $f failed, $r released of $planned planned)" \
	"[ $f -ge 1 ] && [ $r -ge 1 ] && [ $d -lt 1950 ] && [ \$(($d + $f + $r)) = $planned ]"
check "stop-on-error: nothing twice, results right ($dup dup, $bad bad)" "[ $dup = 0 ] && [ $bad = 0 ]"
check "stop-on-error: summary flag" "[ \"\$(json_get $tmp/stop.json stopped_on_error)\" = True ]"

echo "run_mpi: $passes passed, $fails failed"
[ $fails -eq 0 ]
