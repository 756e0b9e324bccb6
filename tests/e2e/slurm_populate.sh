#!/usr/bin/env bash
# djrun submit and djrun status on a real Slurm (slurmctld + slurmd + munge from
# tests/services/slurm.sh) with a real pipeline in MariaDB: Manual `item`, Computed `__square`,
# a python3 make (stdlib only) that logs every call, so "each key done exactly once" is checked
# on the calls as well as on the rows.
#  - 2 tasks through srun --mpi=pmix, and 2 ranks through mpirun: job exit 0, every row once with
#    the right values, no jobs left, a log named after the job id with populate's summary
#  - --array 3: three independent single-process tasks share the keys through the jobs table:
#    every key made exactly once over all tasks, by more than one task, all three exited 0;
#    meanwhile `djrun status` names each reservation holder by its array task id
#  - scancel --batch --signal=USR1 mid-run: the batch script relays it, djrun drains and the job
#    ends with exit 75; no key reserved afterwards, rows + pending = all keys, no row for an
#    unfinished key; while it ran, `djrun status --json` named the Slurm job holding the
#    reservations (matched by pid); a resubmission finishes the table
#  - the same drain with mpirun as the launcher
#  - --time 1 --signal B:USR1@55 --requeue: Slurm's own time-limit warning reaches djrun through
#    the script, which requeues the job; the second run finishes the table
# Jobs are waited for by polling squeue/scontrol (not sbatch --wait). The time-limit check needs
# only that Slurm sends its warning within the job's one-minute limit, not when.
set -uo pipefail
: "${DJRUN:?}"
. "$(dirname "$0")/../lib/checks.sh"
need DJ_TEST_MYSQL_HOST || exit $([ $fails -gt 0 ] && echo 1 || echo 77)
need DJ_TEST_SLURM || exit $([ $fails -gt 0 ] && echo 1 || echo 77)
tmp=$(mktemp -d)
chmod 755 "$tmp"
S=djt_$$_slurm
my() { MYSQL_PWD=$DJ_TEST_MYSQL_PASS mariadb --no-defaults -h "$DJ_TEST_MYSQL_HOST" -P "$DJ_TEST_MYSQL_PORT" -u "$DJ_TEST_MYSQL_USER" "$@"; }
db() { my -N "$S" -e "$1"; }
submitted=()
cleanup() {
	[ ${#submitted[@]} -gt 0 ] && scancel "${submitted[@]}" 2>/dev/null
	my -e "DROP DATABASE IF EXISTS $S" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
unset DJ_BACKEND DJ_DATABASE_NAME DJ_USE_TLS DJ_PORT
# the jobs inherit this environment (sbatch --export=ALL): the database and the make's knobs
export DJ_IGNORE_CONFIG_FILE=1 DJ_HOST=$DJ_TEST_MYSQL_HOST:$DJ_TEST_MYSQL_PORT \
	DJ_USER=$DJ_TEST_MYSQL_USER DJ_PASS=$DJ_TEST_MYSQL_PASS
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
printf 'leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libhwloc.so\nleak:libpmix.so\nleak:libevent\nleak:mca_\n' >"$tmp/lsan.supp"
export OMPI_MCA_mca_base_component_disable_dlclose=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$tmp/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"
cd "$tmp" || exit 1

N=24
values=$(for i in $(seq 1 $N); do printf '(%d,%d.5)' $i $i; done | sed 's/)(/),(/g')
my -e "CREATE DATABASE $S" && my "$S" <<SQL
CREATE TABLE \`item\` (
  \`item_id\` int(11) NOT NULL COMMENT ':int32:',
  \`x\` double NOT NULL COMMENT ':float64:input value',
  PRIMARY KEY (\`item_id\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='an input item';
CREATE TABLE \`__square\` (
  \`item_id\` int(11) NOT NULL COMMENT ':int32:',
  \`sq\` int(11) NOT NULL COMMENT ':int32:item_id squared',
  \`root\` double NOT NULL COMMENT ':float64:',
  \`_job_start_time\` datetime(3) DEFAULT NULL,
  \`_job_duration\` float DEFAULT NULL,
  \`_job_version\` varchar(64) DEFAULT '',
  PRIMARY KEY (\`item_id\`),
  CONSTRAINT \`__square_ibfk_1\` FOREIGN KEY (\`item_id\`) REFERENCES \`item\` (\`item_id\`) ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='item squared';
INSERT INTO \`item\` VALUES $values;
SQL
check "pipeline declared" "[ $? -eq 0 ]"

cat >make.py <<'PY'
#!/usr/bin/env python3
import json, os, time
key = json.load(open(os.environ["DJRUN_KEY_JSON"]))
i = key["item_id"]
time.sleep(float(os.environ.get("POP_SLEEP", "0")))
if os.environ.get("SLURM_RESTART_COUNT", "0") == "0":  # slow on a job's first run only
    time.sleep(float(os.environ.get("POP_SLEEP_FIRST_RUN", "0")))
with open(os.environ["POP_CALLS"], "a") as f:  # one short O_APPEND write per call
    f.write("%d %s\n" % (i, os.environ.get("SLURM_JOB_ID", "-")))
with open(os.path.join(os.environ["DJRUN_OUTPUT_DIR"], "row.json"), "w") as f:
    json.dump({"sq": i * i, "root": i * 0.5}, f)
PY
chmod +x make.py

reset() { db 'DELETE FROM __square' && db 'DELETE FROM `~~square`' 2>/dev/null; : >"$tmp/calls"; }
export POP_CALLS=$tmp/calls
# rows_ok: every row that is there has the right values; prints the row count
rows_ok() {
	local bad
	bad=$(db 'SELECT COUNT(*) FROM __square WHERE sq <> item_id * item_id OR root <> item_id * 0.5 OR _job_start_time IS NULL')
	[ "$bad" = 0 ] || { echo "rows with wrong values: $bad" >&2; return 1; }
}
count() { db "SELECT COUNT(*) FROM $1"; }
# made_once: every key 1..N made exactly once (calls log)
made_once() { [ "$(cut -d' ' -f1 "$tmp/calls" | sort -n | tr '\n' ' ')" = "$(seq 1 $N | tr '\n' ' ')" ]; }

# submit ARGS...: djrun submit, the job id in $J
submit() {
	J=$("$DJRUN" submit --log-dir "$tmp/logs" "$@" 2>"$tmp/submit.err")
	local rc=$?
	[ $rc -eq 0 ] && [ -n "$J" ] && submitted+=("$J") && return 0
	echo "submit failed ($rc): $(cat "$tmp/submit.err")" >&2
	return 1
}
# wait_job ID: until squeue no longer lists it (every task of an array), at most 120 s
wait_job() {
	for _ in $(seq 1 600); do
		[ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
		sleep 0.2
	done
	echo "job $1 still in the queue after 120 s" >&2
	return 1
}
# job_field ID FIELD: FIELD=value of every task of the job (scontrol keeps finished jobs 300 s)
job_field() { scontrol -o show job "$1" | grep -o "\b$2=[^ ]*" | cut -d= -f2-; }
show_log() { cat "$tmp"/logs/*"$1"*.log >&2 2>/dev/null; }
# wait_rows N: until the table has at least N rows (the job is under way), at most 60 s
wait_rows() {
	for _ in $(seq 1 300); do
		[ "$(count __square)" -ge "$1" ] && return 0
		sleep 0.2
	done
	return 1
}

# --- djrun status before any run, and on tables without jobs --------------------------------------
"$DJRUN" status "$S" --no-slurm >st0.txt 2>&1
check "status before any run: 12 keys remaining, no jobs table yet" \
	"grep -q 'keys: $N in key_source, 0 done, $N remaining ($N without a job)' st0.txt && grep -q 'no jobs table yet' st0.txt || { cat st0.txt >&2; false; }"
"$DJRUN" status "$S.Item" >/dev/null 2>st1.err
check "status of a Manual table: exit 1, says why" "[ $? -eq 1 ] && grep -q 'not Imported or Computed' st1.err"
"$DJRUN" status "$S.Nope" >/dev/null 2>st2.err
check "status of a missing table: exit 1" "[ $? -eq 1 ] && grep -q \"table 'Nope' not found\" st2.err"

# --- 2 tasks through srun --mpi=pmix, then through mpirun ---------------------------------------
for launcher in srun mpirun; do
	reset
	submit --ntasks 2 --launcher $launcher -- populate "$S.Square" --make "$tmp/make.py" \
		|| { check "$launcher: submitted" false; continue; }
	wait_job "$J"
	state=$(job_field "$J" JobState) code=$(job_field "$J" ExitCode)
	check "$launcher: job $J COMPLETED with 0:0 (got $state $code)" \
		"[ '$state' = COMPLETED ] && [ '$code' = 0:0 ] || { show_log $J; false; }"
	check "$launcher: every row once with the right values" "[ \$(count __square) = $N ] && rows_ok"
	check "$launcher: every key made exactly once" "made_once"
	check "$launcher: no jobs left" "[ \$(count '\`~~square\`') = 0 ]"
	log=$tmp/logs/djrun-populate-$S.Square-$J.log
	check "$launcher: log named after the job holds populate's summary over 2 ranks" \
		"grep -q 'populate $S.Square: 2 ranks, $N keys planned, $N done, 0 failed' '$log'"
	check "$launcher: the script used $launcher" \
		"grep -q '^$launcher .*$DJRUN populate $S.Square' $tmp/logs/djrun-populate-$S.Square-*.sbatch"
	rm -f "$tmp"/logs/*.sbatch
done

# --- an array of 3 independent tasks on one table ------------------------------------------------
reset
if POP_SLEEP=0.2 submit --array 3 -- populate "$S.Square" --make "$tmp/make.py"; then
	wait_rows 1
	"$DJRUN" status "$S" --json >status_array.json 2>status.err
	wait_job "$J"
	check "array: status named each holder by its array task (${J}_0..2), matched by pid" 'python3 - "$J" <<PY
import json, re, sys
t = json.load(open("status_array.json"))["tables"][0]
h = t["reserved_by"]
assert h and sum(x["keys"] for x in h) == t["jobs"]["reserved"], t
for x in h:
    assert re.fullmatch(sys.argv[1] + "_[0-2]", x["slurm_job"] or "") and x["slurm_match"] == "pid", h
PY'
	workers=$(cut -d' ' -f2 "$tmp/calls" | sort -u | wc -l)
	check "array: the keys were made by more than one task ($workers)" "[ $workers -ge 2 ]"
	states=$(job_field "$J" JobState | sort | uniq -c | tr -s ' ')
	codes=$(job_field "$J" ExitCode | sort -u)
	check "array: 3 tasks COMPLETED with 0:0 (got $states / $codes)" \
		"[ '$states' = ' 3 COMPLETED' ] && [ '$codes' = 0:0 ] || { show_log ${J}_; false; }"
	check "array: every row once with the right values" "[ \$(count __square) = $N ] && rows_ok"
	check "array: every key made exactly once over all tasks" "made_once"
	check "array: no jobs left" "[ \$(count '\`~~square\`') = 0 ]"
	done_sum=$(cat "$tmp"/logs/*"$J"_*.log | sed -n 's/.* keys planned, \([0-9]*\) done.*/\1/p' | paste -sd+ | bc)
	check "array: three task logs whose done counts add up to $N (got $done_sum)" \
		"[ \$(ls $tmp/logs/*${J}_[0-2].log | wc -l) = 3 ] && [ '$done_sum' = $N ]"
else
	check "array: submitted" false
fi

# --- scancel --batch --signal=USR1 mid-run: drain, exit 75; status names the job -----------------
# drained_ok NAME: after a drained job, no key reserved, rows + pending = N, rows right
drained_ok() {
	local rows pend other
	rows=$(count __square)
	pend=$(db "SELECT COUNT(*) FROM \`~~square\` WHERE status = 'pending'")
	other=$(db "SELECT COUNT(*) FROM \`~~square\` WHERE status <> 'pending'")
	check "$1: rows ($rows) + pending ($pend) = $N, nothing reserved ($other), rows right" \
		"[ $rows -ge 1 ] && [ $rows -lt $N ] && [ \$(($rows + $pend)) = $N ] && [ $other = 0 ] && rows_ok"
	check "$1: made exactly the rows that are in" "[ \$(wc -l <$tmp/calls) = $rows ]"
}
reset
if POP_SLEEP=0.5 submit --ntasks 2 -- populate "$S.Square" --make "$tmp/make.py" --batch 1; then
	wait_rows 1
	"$DJRUN" status "$S.Square" --json >status.json 2>status.err
	check "status: exit 0 while the job runs" "[ $? -eq 0 ] || { cat status.err >&2; false; }"
	"$DJRUN" status "$S" >status.txt 2>&1
	scancel --batch --signal=USR1 "$J"
	wait_job "$J"
	check "status --json: the reservation holder is Slurm job $J, matched by pid" 'python3 - "$J" "$N" <<PY
import json, sys
d = json.load(open("status.json"))
t = d["tables"][0]
assert d["slurm"] is True and t["table"] == "Square" and t["total"] == int(sys.argv[2]), d
h = t["reserved_by"]
assert len(h) == 1 and h[0]["slurm_job"] == sys.argv[1] and h[0]["slurm_match"] == "pid", h
assert h[0]["keys"] == t["jobs"]["reserved"] >= 1, t
PY'
	check "status (text): Square's counts and the holder's Slurm job" \
		"grep -q 'Square' status.txt && grep -q 'reserved by .*slurm job $J' status.txt || { cat status.txt >&2; false; }"
	code=$(job_field "$J" ExitCode)
	check "USR1: the job ended with exit 75 (got $code)" "[ '$code' = 75:0 ] || { show_log $J; false; }"
	check "USR1: the log shows the relay and the drain" \
		"grep -q 'djrun exited with status 75' $tmp/logs/*-$J.log"
	drained_ok "USR1"
	"$DJRUN" status "$S" --json >status2.json 2>status.err
	check "status --json after the drain: pending = remaining, nothing reserved, no holder" 'python3 - <<PY
import json
t = json.load(open("status2.json"))["tables"][0]
j = t["jobs"]
assert j["pending"] == t["remaining"] >= 1 and j["reserved"] == 0 and t["reserved_by"] == [], t
assert t["unqueued"] == 0, t
PY'
	db 'DELETE FROM `~~square` ORDER BY item_id LIMIT 2'
	"$DJRUN" status "$S" --json --no-slurm >status3.json 2>status.err
	check "status --json: keys whose jobs were deleted count as unqueued" \
		"python3 -c 'import json; t = json.load(open(\"status3.json\"))[\"tables\"][0]; assert t[\"unqueued\"] == 2, t'"
	submit --ntasks 2 -- populate "$S.Square" --make "$tmp/make.py"
	wait_job "$J"
	check "resubmitted: exit 0, the table complete" \
		"[ '$(job_field "$J" ExitCode)' = 0:0 ] && [ \$(count __square) = $N ] && rows_ok && made_once"
	check "resubmitted: no jobs left" "[ \$(count '\`~~square\`') = 0 ]"
else
	check "USR1: submitted" false
fi

# --- the same drain under mpirun: the relayed USR1 reaches mpirun, which passes it to the ranks ----
reset
if POP_SLEEP=0.5 submit --ntasks 2 --launcher mpirun -- populate "$S.Square" --make "$tmp/make.py" \
	--batch 1; then
	wait_rows 1
	scancel --batch --signal=USR1 "$J"
	wait_job "$J"
	code=$(job_field "$J" ExitCode)
	check "mpirun USR1: the job ended with exit 75 (got $code)" "[ '$code' = 75:0 ] || { show_log $J; false; }"
	drained_ok "mpirun USR1"
else
	check "mpirun USR1: submitted" false
fi

# --- the time-limit warning: --time 1 --signal B:USR1@55 --requeue -------------------------------
# Slurm sends the warning once 55 s or less are left (it looks about every 30 s, so some 5 to 35 s
# after the start); the first run needs 12 x 5 s, so the warning lands mid-run. The script relays
# it, djrun drains, the job requeues itself, and its second run (fast) finishes the table.
reset
if POP_SLEEP_FIRST_RUN=5 submit --time 1 --signal B:USR1@55 --requeue -- populate "$S.Square" \
	--make "$tmp/make.py" --batch 1; then
	# requeued: Slurm holds it back for a while (BeginTime); let it start again now. slurmd
	# refuses a credential issued in the same second as the revocation of the last run's
	# ("Job credential revoked"), so the restart waits for the next seconds.
	for _ in $(seq 1 400); do
		[ "$(job_field "$J" Restarts)" = 1 ] && [ "$(job_field "$J" JobState)" = PENDING ] && break
		sleep 0.2
	done
	check "time limit: warned, drained and requeued itself (Restarts=1)" \
		"[ '$(job_field "$J" Restarts)' = 1 ] || { show_log $J; false; }"
	first=$(wc -l <"$tmp/calls")
	check "time limit: the first run stopped mid-table ($first of $N keys made)" \
		"[ $first -ge 1 ] && [ $first -lt $N ]"
	sleep 2
	scontrol update JobId="$J" StartTime=now
	wait_job "$J"
	check "time limit: the second run finished (COMPLETED 0:0, got $(job_field "$J" JobState) $(job_field "$J" ExitCode))" \
		"[ '$(job_field "$J" ExitCode)' = 0:0 ] || { show_log $J; false; }"
	check "time limit: the table complete, every key made once" \
		"[ \$(count __square) = $N ] && rows_ok && made_once && [ \$(count '\`~~square\`') = 0 ]"
	log=$(ls $tmp/logs/*-$J.log)
	check "time limit: one log with both runs, the drain (75) and the requeue" \
		"[ \$(grep -c 'djrun submit: job $J' $log) = 2 ] && grep -q 'exited with status 75' $log &&
		 grep -q 'requeueing job $J' $log && grep -q 'restart 1' $log"
else
	check "time limit: submitted" false
fi

echo "slurm_populate checks: $passes passed, $fails failed"
[ $fails -eq 0 ]
