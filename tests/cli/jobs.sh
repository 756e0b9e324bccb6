#!/usr/bin/env bash
# djrun jobs, the built binary: usage errors exit 2, an unreachable server 3, a table without jobs
# 1; on the fixture pipeline restored on MariaDB and on PostgreSQL: status (text and --json)
# equals the fixture's jobs.progress() and progress(); refresh adds the one key without a job
# with jobs.default_priority from datajoint.json, then nothing; clear-errors deletes the two
# errors Python recorded; the rows djrun wrote read back through `djrun fetch`.
set -uo pipefail
. "$(dirname "$0")/../lib/fixture_env.sh"
echo '{"jobs": {"default_priority": 7}}' >datajoint.json

# --- without a server -------------------------------------------------------------------------
"$DJRUN" jobs 2>err >/dev/null; rc=$?
check "no arguments exits 2" '[ $rc -eq 2 ] && grep -q "djrun jobs --help" err'
"$DJRUN" jobs x.y frobnicate 2>err >/dev/null; rc=$?
check "unknown action exits 2" '[ $rc -eq 2 ] && grep -q "unknown action" err'
"$DJRUN" jobs x.y --forse 2>err >/dev/null; rc=$?
check "unknown option exits 2" '[ $rc -eq 2 ] && grep -q "unknown option" err'
"$DJRUN" jobs --help | grep -q "usage: djrun jobs"; rc=$?
check "--help" '[ $rc -eq 0 ]'
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DJ_HOST=127.0.0.1:$port DJ_USER=u DJ_PASS=p "$DJRUN" jobs x.y 2>err >out; rc=$?
check "closed port exits 3" '[ $rc -eq 3 ] && [ ! -s out ]'

# --- one backend ------------------------------------------------------------------------------
jobs_fixture() { # NAME
	local name=$1 cfg=$tmp/datajoint.json
	"$DJRUN" jobs "$ephys.Spikes" --config "$cfg" >st.txt 2>err; rc=$?
	check "$name: status exits 0" '[ $rc -eq 0 ] || { cat err >&2; false; }'
	check "$name: status text" 'grep -q "key_source: 9 keys, 5 remaining" st.txt &&
		grep -q "pending 3  reserved 1  success 8  error 1  ignore 0  total 13" st.txt'
	"$DJRUN" jobs "$ephys.Summary" status --json --config "$cfg" >st.json 2>err; rc=$?
	check "$name: status --json" '[ $rc -eq 0 ] && python3 -c "
import json; d = json.load(open(\"st.json\"))
assert d[\"format\"] == 1 and d[\"jobs_table\"] == \"~~summary\" and d[\"exists\"]
assert (d[\"remaining\"], d[\"total\"]) == (1, 4), d
assert d[\"jobs\"] == {\"pending\": 1, \"reserved\": 0, \"success\": 0, \"error\": 0, \"ignore\": 0, \"total\": 1}, d
"'
	"$DJRUN" jobs "$ephys.Recording" refresh --stale-timeout 0 --json --config "$cfg" >r1.json 2>err; rc=$?
	"$DJRUN" jobs "$ephys.Recording" refresh --stale-timeout 0 --config "$cfg" >r2.txt 2>>err; rc2=$?
	check "$name: refresh adds the key without a job, then nothing" '[ $rc -eq 0 ] && [ $rc2 -eq 0 ] &&
		python3 -c "import json; d = json.load(open(\"r1.json\")); assert d[\"added\"] == 1, d" &&
		grep -q "added 0, removed 0" r2.txt || { cat err >&2; false; }'
	"$DJRUN" fetch "$ephys.~~recording" --where "subject = 'mouse03' AND session_idx = 2" \
		--config "$cfg" >new.jsonl 2>err; rc=$?
	check "$name: the new job, priority from datajoint.json" '[ $rc -eq 0 ] &&
		grep -q "\"status\":\"pending\",\"priority\":7," new.jsonl || { cat err new.jsonl >&2; false; }'
	"$DJRUN" jobs "$ephys.Recording" clear-errors --config "$cfg" >ce.txt 2>err; rc=$?
	check "$name: clear-errors" '[ $rc -eq 0 ] && grep -q "2 error job(s) deleted" ce.txt'
	"$DJRUN" jobs "$ephys.Recording" --json --config "$cfg" >st2.json 2>err; rc=$?
	check "$name: status after" '[ $rc -eq 0 ] && python3 -c "
import json; d = json.load(open(\"st2.json\"))
assert d[\"jobs\"][\"error\"] == 0 and d[\"jobs\"][\"pending\"] == 3 and d[\"jobs\"][\"total\"] == 4, d
"'
	"$DJRUN" jobs "$ephys.Session" --config "$cfg" 2>err >/dev/null; rc=$?
	check "$name: a manual table has no jobs: exits 1" '[ $rc -eq 1 ] && grep -q "not Imported or Computed" err'
	"$DJRUN" jobs "$ephys.Nope" --config "$cfg" 2>err >/dev/null; rc=$?
	check "$name: missing table exits 1" '[ $rc -eq 1 ]'
	"$DJRUN" jobs "$ephys.Spikes" refresh --priority high --config "$cfg" 2>err >/dev/null; rc=$?
	check "$name: bad --priority exits 2" '[ $rc -eq 2 ]'
}

if need DJ_TEST_MYSQL_HOST; then
	my -e "DROP DATABASE IF EXISTS $ephys; DROP DATABASE IF EXISTS $lab"
	rename "$F/mariadb.sql" | my; rc=$?
	check "mariadb: fixture restored" '[ $rc -eq 0 ]'
	(
		export DJ_HOST=$DJ_TEST_MYSQL_HOST:$DJ_TEST_MYSQL_PORT DJ_USER=$DJ_TEST_MYSQL_USER DJ_PASS=$DJ_TEST_MYSQL_PASS
		jobs_fixture mariadb
		echo "$passes $fails" >counts
	)
	read -r passes fails <counts
fi

if need DJ_TEST_PG_HOST; then
	pg -c "DROP SCHEMA IF EXISTS $ephys CASCADE" -c "DROP SCHEMA IF EXISTS $lab CASCADE" 2>/dev/null
	rename "$F/postgres.sql" | pg >/dev/null; rc=$?
	check "postgresql: fixture restored" '[ $rc -eq 0 ]'
	(
		export DJ_BACKEND=postgresql DJ_HOST=$DJ_TEST_PG_HOST DJ_PORT=$DJ_TEST_PG_PORT \
			DJ_USER=$DJ_TEST_PG_USER DJ_PASS=$DJ_TEST_PG_PASS DJ_DATABASE_NAME=${DJ_TEST_PG_DB:-postgres}
		jobs_fixture postgresql
		echo "$passes $fails" >counts
	)
	read -r passes fails <counts
fi

echo "jobs checks: $passes passed, $fails failed"
[ $fails -eq 0 ]
