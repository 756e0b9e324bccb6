#!/usr/bin/env bash
# djrun fetch, the built binary: usage and configuration errors exit 2, an unreachable server 3,
# a missing table or a bad restriction 1; the fixture pipeline, restored on MariaDB and on
# PostgreSQL with its stores, is fetched as JSON lines: every table's row count, decoded values
# (dates, decimals, json, blobs as dtype/shape/data, <blob@> from the store, <npy@> with --load,
# attachments saved with --download, hidden columns with --hidden), --where and --limit.
#
# The dumps are restored under names of this run (djt_<pid>_lab, djt_<pid>_ephys), as
# describe.sh does; the stores' schema folders are renamed to match the renamed metadata paths.
set -uo pipefail
. "$(dirname "$0")/../lib/fixture_env.sh"

# Extract a backend's stores under $tmp/NAME and write NAME/datajoint.json naming them.
stores() { # NAME main.tar.gz deep.tar.gz
	local root=$tmp/$1
	mkdir -p "$root/main" "$root/deep"
	tar -xzf "$2" -C "$root/main" && tar -xzf "$3" -C "$root/deep" || return 1
	for s in main deep; do for d in _hash _schema; do
		[ -d "$root/$s/$d/fx_ephys" ] && mv "$root/$s/$d/fx_ephys" "$root/$s/$d/$ephys"
	done; done
	sed "s|\${STORE_ROOT}|$root|g" "$F/datajoint.json" >"$root/datajoint.json"
}

# --- without a server -------------------------------------------------------------------------
"$DJRUN" fetch 2>err >/dev/null; rc=$?
check "no arguments exits 2" '[ $rc -eq 2 ] && grep -q "djrun fetch --help" err'
"$DJRUN" fetch x.y --forse 2>err >/dev/null; rc=$?
check "unknown option exits 2" '[ $rc -eq 2 ] && grep -q "unknown option" err'
"$DJRUN" fetch x.y --limit -3 2>err >/dev/null; rc=$?
check "bad --limit exits 2" '[ $rc -eq 2 ]'
"$DJRUN" fetch justaschema 2>err >/dev/null; rc=$?
check "SCHEMA without .Table exits 2" '[ $rc -eq 2 ] && grep -q "SCHEMA.Table" err'
"$DJRUN" fetch --help | grep -q "usage: djrun fetch"; rc=$?
check "--help" '[ $rc -eq 0 ]'
"$DJRUN" fetch x.y 2>err >/dev/null; rc=$?
check "no user exits 2" '[ $rc -eq 2 ] && grep -q "database.user" err'
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DJ_HOST=127.0.0.1:$port DJ_USER=u DJ_PASS=p "$DJRUN" fetch x.y 2>err >out; rc=$?
check "closed port exits 3" '[ $rc -eq 3 ] && [ ! -s out ]'

# --- one backend ------------------------------------------------------------------------------
fetch_fixture() { # NAME EXPECTED_JSON
	local name=$1 exp=$2 cfg=$tmp/$1/datajoint.json
	python3 - "$exp" >tables.txt <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for s, tables in d["schemas"].items():
    for t, v in tables.items():
        print(s, t, v["row_count"])
PY
	local bad=0
	while read -r s t n; do
		s=${s/fx_lab/$lab}; s=${s/fx_ephys/$ephys}
		got=$("$DJRUN" fetch "$s.$t" --config "$cfg" 2>err | wc -l)
		[ "$got" = "$n" ] || { echo "  $s.$t: $got rows, expected $n: $(cat err)" >&2; bad=1; }
	done <tables.txt
	check "$name: every table fetched, row counts as in the fixture" '[ $bad -eq 0 ]'
	"$DJRUN" fetch "$lab.Subject" --config "$cfg" >subject.jsonl 2>err; rc=$?
	"$DJRUN" fetch "$ephys.Recording" --config "$cfg" --limit 1 --load --hidden >rec.jsonl 2>>err; rc2=$?
	"$DJRUN" fetch "$ephys.Spikes.Unit" --config "$cfg" --where "unit_id = 2" --download dl \
		>unit.jsonl 2>>err; rc3=$?
	check "$name: fetch exits 0" '[ $rc -eq 0 ] && [ $rc2 -eq 0 ] && [ $rc3 -eq 0 ] || { cat err >&2; false; }'
	python3 - "$name" <<'PY' 2>err.py; rc=$?
import hashlib, json, os, sys
pg = sys.argv[1] == "postgresql"
rows = {r["subject"]: r for r in map(json.loads, open("subject.jsonl"))}
r = rows["rat01"]
assert r["date_of_birth"] == "2025-10-15" and r["weight_g"] == "312.75", r
assert r["extra"] == {"source": "vendor X", "note": "naïve"}, r["extra"]
assert r["is_alive"] in (0, False) and rows["mouse02"]["weight_g"] is None
assert list(rows) == ["mouse01", "mouse02", "mouse03", "rat01"], list(rows)  # key order
rec = json.loads(open("rec.jsonl").read())
assert (rec["subject"], rec["session_idx"]) == ("mouse01", 1)
assert rec["raw"]["dtype"] == "int16" and rec["raw"]["shape"] == [4, 4000], rec["raw"]["shape"]
assert len(rec["raw"]["data"]) == 16000 and rec["raw"]["data"][:6] == [-16, -41, 12, 15, -6, 7]
assert rec["lfp"]["dtype"] == "float32" and rec["lfp"]["shape"] == [4, 200]
assert rec["traces"]["dtype"] == "float32" and len(rec["traces"]["data"]) == 16000
assert rec["meta"]["importer"] == ["fx-import", 1, 0] and rec["meta"]["header"]["version"] == 1
assert rec["duration_s"] == 0.2 and rec["sampling_rate"] == 20000.0
assert rec["_job_version"] == "ac0b8c8", rec.get("_job_version")
units = list(map(json.loads, open("unit.jsonl")))
assert len(units) == 4 and all(u["unit_id"] == 2 for u in units), len(units)
for u in units:
    a = u["report"]["$attach"]
    assert os.path.exists(a["path"]) and os.path.getsize(a["path"]) == a["size"], a
    assert u["waveform"]["shape"] == [32] and u["spike_times"]["dtype"] == "float64"
PY
	check "$name: decoded values" '[ $rc -eq 0 ] || { cat err.py >&2; false; }'
	"$DJRUN" fetch "$ephys.#method" --config "$cfg" --where "method = 'manual'" >m.jsonl 2>err; rc=$?
	check "$name: --where" '[ $rc -eq 0 ] && [ "$(wc -l <m.jsonl)" = 1 ] && grep -q "\"curator\":\"jd\"" m.jsonl'
	"$DJRUN" fetch "$ephys.Session" --config "$cfg" --limit 0 >none.jsonl 2>err; rc=$?
	check "$name: --limit 0" '[ $rc -eq 0 ] && [ ! -s none.jsonl ]'
	"$DJRUN" fetch "$ephys.Nope" --config "$cfg" 2>err >/dev/null; rc=$?
	check "$name: missing table exits 1" '[ $rc -eq 1 ] && grep -q "Nope.*not found" err'
	"$DJRUN" fetch "$ephys.Session" --config "$cfg" --where "no_such_column = 1" 2>err >/dev/null; rc=$?
	check "$name: bad restriction exits 1" '[ $rc -eq 1 ] && grep -q "no_such_column" err'
	rm -f "$tmp/$name/main/_hash/$ephys/c7o3smbmv4mksdsprbijidn5ey"
	"$DJRUN" fetch "$ephys.Recording" --config "$cfg" --where "subject = 'mouse01'" 2>err >/dev/null; rc=$?
	check "$name: a missing store object exits 1 naming row and column" \
		'[ $rc -eq 1 ] && grep -q "_recording {subject=.mouse01., session_idx=1}.raw" err'
}

if need DJ_TEST_MYSQL_HOST; then
	my -e "DROP DATABASE IF EXISTS $ephys; DROP DATABASE IF EXISTS $lab"
	rename "$F/mariadb.sql" | my; rc=$?
	check "mariadb: fixture restored" '[ $rc -eq 0 ]'
	stores mariadb "$F/store-main.tar.gz" "$F/store-deep.tar.gz"
	(
		export DJ_HOST=$DJ_TEST_MYSQL_HOST:$DJ_TEST_MYSQL_PORT DJ_USER=$DJ_TEST_MYSQL_USER DJ_PASS=$DJ_TEST_MYSQL_PASS
		fetch_fixture mariadb "$F/expected.json"
		echo "$passes $fails" >counts
	)
	read -r passes fails <counts
fi

if need DJ_TEST_PG_HOST; then
	pg -c "DROP SCHEMA IF EXISTS $ephys CASCADE" -c "DROP SCHEMA IF EXISTS $lab CASCADE" 2>/dev/null
	rename "$F/postgres.sql" | pg >/dev/null; rc=$?
	check "postgresql: fixture restored" '[ $rc -eq 0 ]'
	stores postgresql "$F/postgres-store-main.tar.gz" "$F/postgres-store-deep.tar.gz"
	(
		export DJ_BACKEND=postgresql DJ_HOST=$DJ_TEST_PG_HOST DJ_PORT=$DJ_TEST_PG_PORT \
			DJ_USER=$DJ_TEST_PG_USER DJ_PASS=$DJ_TEST_PG_PASS DJ_DATABASE_NAME=${DJ_TEST_PG_DB:-postgres}
		fetch_fixture postgresql "$F/expected-postgres.json"
		echo "$passes $fails" >counts
	)
	read -r passes fails <counts
fi

echo "fetch checks: $passes passed, $fails failed"
[ $fails -eq 0 ]
