#!/usr/bin/env bash
# djrun describe, the built binary: usage and configuration errors exit 2; an unreachable server
# or a wrong password exit 3; a missing schema or table exits 1; the fixture pipeline, restored on
# MariaDB and on PostgreSQL, is described in text and JSON.
#
# The dumps are restored under names of this run (djt_<pid>_lab, djt_<pid>_ephys): CLI tests run
# in parallel with the integration tests, which own fx_lab / fx_ephys.
set -uo pipefail
. "$(dirname "$0")/../lib/fixture_env.sh"

# --- without a server -------------------------------------------------------------------------
"$DJRUN" describe 2>err >/dev/null; rc=$?
check "no arguments exits 2" '[ $rc -eq 2 ] && grep -q "djrun describe --help" err'
"$DJRUN" describe x --forse 2>err >/dev/null; rc=$?
check "unknown option exits 2" '[ $rc -eq 2 ] && grep -q "unknown option" err'
"$DJRUN" describe --help | grep -q "usage: djrun describe"; rc=$?
check "--help" '[ $rc -eq 0 ]'
"$DJRUN" --help | grep -q "describe"; rc=$?
check "listed in djrun --help" '[ $rc -eq 0 ]'
"$DJRUN" describe fx_lab 2>err >/dev/null; rc=$?
check "no user exits 2" '[ $rc -eq 2 ] && grep -q "database.user" err'
DJ_BACKEND=oracle DJ_USER=u "$DJRUN" describe fx_lab 2>err >/dev/null; rc=$?
check "unknown backend exits 2" '[ $rc -eq 2 ]'
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DJ_HOST=127.0.0.1:$port DJ_USER=u DJ_PASS=p "$DJRUN" describe fx_lab 2>err >out; rc=$?
check "closed port exits 3" '[ $rc -eq 3 ] && grep -q "cannot connect" err && [ ! -s out ]'
DJ_BACKEND=postgresql DJ_HOST=127.0.0.1:$port DJ_USER=u DJ_PASS=p "$DJRUN" describe fx_lab 2>err >/dev/null; rc=$?
check "closed port exits 3 (postgresql)" '[ $rc -eq 3 ] && grep -q "cannot connect" err'

# --- one backend: restore, describe, check ----------------------------------------------------
describe_fixture() { # NAME, then the environment is set by the caller
	local name=$1
	"$DJRUN" describe "$lab" >lab.txt 2>err; rc=$?
	check "$name: describe $lab exits 0" '[ $rc -eq 0 ]'
	check "$name: subject is Manual" 'grep -q "^$lab.subject  Subject  manual$" lab.txt'
	check "$name: subject key and type" 'grep -Eq "^  \* subject +varchar\(16\) +animal id$" lab.txt'
	check "$name: json from the marker" 'grep -Eq "^    extra +json +null +free-form annotations$" lab.txt'
	"$DJRUN" describe "$ephys" >ephys.txt 2>err; rc=$?
	check "$name: describe $ephys exits 0" '[ $rc -eq 0 ]'
	check "$name: parent in another schema" 'grep -A3 "^$ephys.session " ephys.txt | grep -q "^  -> $lab.subject$"'
	check "$name: tiers" 'grep -q "^$ephys._recording  Recording  imported  (jobs: ~~recording)$" ephys.txt &&
		grep -q "^$ephys.__spikes__unit  Spikes.Unit  part  (part of Spikes)$" ephys.txt &&
		grep -q "^$ephys.#method  Method  lookup$" ephys.txt'
	check "$name: inherited key type" 'grep -A6 "^$ephys.__spikes " ephys.txt | grep -Eq "^  \* session_idx +int16"'
	check "$name: codec with store" 'grep -Eq "^    raw +<blob@main> +int16 samples" ephys.txt'
	check "$name: hidden job columns" 'grep -Eq "^    _job_duration +(float|real) +null +\[hidden\]$" ephys.txt'
	"$DJRUN" describe "$ephys.Spikes.Unit" >unit.txt 2>err; rc=$?
	check "$name: one part table" '[ $rc -eq 0 ] && [ "$(grep -c "^$ephys\." unit.txt)" = 1 ] &&
		grep -Eq "^  \* unit_id +int16" unit.txt && grep -q "^  -> $ephys.__spikes$" unit.txt'
	"$DJRUN" describe "$ephys" --json >ephys.json 2>err; rc=$?
	check "$name: --json exits 0" '[ $rc -eq 0 ]'
	python3 - "$ephys" "$lab" ephys.json 2>err.py <<'PY'; rc=$?
import json, sys
ephys, lab = sys.argv[1], sys.argv[2]
d = json.load(open(sys.argv[3]))
assert d["format"] == 1 and d["schema"] == ephys, d.get("schema")
t = {x["name"]: x for x in d["tables"]}
assert len(t) == 12, sorted(t)
# parents before children in "order", parts after their masters, hidden tables not in it
order = d["order"]
assert len(order) == 8 and not any(n.startswith("~") for n in order), order
for i, name in enumerate(order):
    for p in t[name]["parents"]:
        if p["schema"] == ephys:
            assert order.index(p["table"]) < i, (name, p["table"])
assert order.index("__spikes__unit") == order.index("__spikes") + 1, order
s = t["session"]
assert s["tier"] == "manual" and s["primary_key"] == ["subject", "session_idx"], s["primary_key"]
assert s["parents"][0]["schema"] == lab and s["parents"][0]["attr_map"] == {"subject": "subject"}
c = {x["name"]: x for x in s["columns"]}
assert c["session_uuid"]["type"] == "uuid" and c["session_uuid"]["nullable"], c["session_uuid"]
assert c["notes"]["default"] == '""' or c["notes"]["default"].endswith('::character varying"'), c["notes"]
assert c["subject"]["inherited"] and c["subject"]["type"] == "varchar(16)"
r = {x["name"]: x for x in t["_recording"]["columns"]}
assert (r["raw"]["codec"], r["raw"]["store"], r["raw"]["kind"]) == ("blob", "main", "codec"), r["raw"]
assert r["_job_start_time"]["hidden"] and r["meta"]["codec"] == "blob" and r["meta"]["store"] is None
assert t["_recording"]["jobs_table"] == "~~recording" and t["~~recording"]["jobs_of"] == "_recording"
assert t["__spikes__unit"]["master"] == "__spikes" and t["__spikes__unit"]["class"] == "Spikes.Unit"
PY
	check "$name: JSON document" '[ $rc -eq 0 ] || { cat err.py >&2; false; }'
	"$DJRUN" describe "djt_$$_nope" 2>err >/dev/null; rc=$?
	check "$name: missing schema exits 1" '[ $rc -eq 1 ] && grep -q "djt_$$_nope.*not found" err'
	"$DJRUN" describe "$ephys.Nope" 2>err >/dev/null; rc=$?
	check "$name: missing table exits 1" '[ $rc -eq 1 ] && grep -q "Nope.*not found" err'
}

if need DJ_TEST_MYSQL_HOST; then
	my -e "DROP DATABASE IF EXISTS $ephys; DROP DATABASE IF EXISTS $lab"
	rename "$F/mariadb.sql" | my; rc=$?
	check "mariadb: fixture restored" '[ $rc -eq 0 ]'
	(
		export DJ_HOST=$DJ_TEST_MYSQL_HOST:$DJ_TEST_MYSQL_PORT DJ_USER=$DJ_TEST_MYSQL_USER DJ_PASS=$DJ_TEST_MYSQL_PASS
		describe_fixture mariadb
		DJ_PASS=wrong-password "$DJRUN" describe "$lab" 2>err >/dev/null; rc=$?
		check "mariadb: wrong password exits 3" '[ $rc -eq 3 ] && grep -q "authentication failed" err &&
			grep -q "$DJ_TEST_MYSQL_USER@$DJ_TEST_MYSQL_HOST" err && ! grep -q wrong-password err'
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
		describe_fixture postgresql
		DJ_PASS=wrong-password "$DJRUN" describe "$lab" 2>err >/dev/null; rc=$?
		check "postgresql: wrong password exits 3" '[ $rc -eq 3 ] && grep -q "authentication failed" err &&
			! grep -q wrong-password err'
		echo "$passes $fails" >counts
	)
	read -r passes fails <counts
fi

echo "describe checks: $passes passed, $fails failed"
[ $fails -eq 0 ]
