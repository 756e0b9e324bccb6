#!/usr/bin/env bash
# djrun gc --collect --grace 0s run again and again for 60 s while a writer inserts rows naming
# <hash@main> objects the way datajoint-python does (tests/e2e/gc_writer.py: new content, and
# dedup hits on objects that already exist and are orphaned, since the writer also deletes rows):
# on a file store (gc in one process) and on the S3 server (mpirun -n 2). Afterwards every row
# the writer left must read back: `djrun fetch` decodes every row, and every object's bytes hash
# to the row's metadata. gc must really have deleted objects meanwhile (not a vacuous pass).
# MariaDB by default; DJ_GC_BACKEND=postgresql runs the file-store round on PostgreSQL instead
# (tests/e2e/gc_concurrent_postgres.sh; the writer then drives psql). The writer's SQL client runs
# in autocommit mode on both.
set -uo pipefail
: "${DJRUN:?}" "${MPIEXEC:?}"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/fixture_env.sh"
printf 'leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libhwloc.so\nleak:libpmix.so\nleak:libevent\nleak:mca_\n' >"$tmp/lsan.supp"
export OMPI_MCA_mca_base_component_disable_dlclose=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$tmp/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"
secs=${DJ_GC_WRITER_SECONDS:-60}
schema=djt_$$_gcw
trap 'my -e "DROP DATABASE IF EXISTS $schema" 2>/dev/null; cleanup' EXIT

backend=${DJ_GC_BACKEND:-mysql}
if [ "$backend" = postgresql ]; then
	trap 'pg -c "DROP SCHEMA IF EXISTS $schema CASCADE" 2>/dev/null; cleanup' EXIT
	if ! need DJ_TEST_PG_HOST; then [ $fails -eq 0 ] && exit 77; exit 1; fi
	export DJ_BACKEND=postgresql DJ_HOST=$DJ_TEST_PG_HOST DJ_PORT=$DJ_TEST_PG_PORT \
		DJ_USER=$DJ_TEST_PG_USER DJ_PASS=$DJ_TEST_PG_PASS DJ_DATABASE_NAME=${DJ_TEST_PG_DB:-postgres}
	export GC_WRITER_DB=postgresql
	rows_sql() { pg -A -t -F "$(printf '\t')" -c "SELECT id, data->>'hash', data->>'path' FROM $schema.item ORDER BY id"; }
	make_table() {
		pg -c "DROP SCHEMA IF EXISTS $schema CASCADE" -c "CREATE SCHEMA $schema" \
			-c "CREATE TABLE $schema.item (id integer NOT NULL, data jsonb NOT NULL, PRIMARY KEY (id))" \
			-c "COMMENT ON TABLE $schema.item IS 'gc writer test'" \
			-c "COMMENT ON COLUMN $schema.item.id IS ':int32:'" \
			-c "COMMENT ON COLUMN $schema.item.data IS ':<hash@main>:payload'"
	}
else
	if ! need DJ_TEST_MYSQL_HOST; then [ $fails -eq 0 ] && exit 77; exit 1; fi
	export DJ_HOST=$DJ_TEST_MYSQL_HOST:$DJ_TEST_MYSQL_PORT DJ_USER=$DJ_TEST_MYSQL_USER DJ_PASS=$DJ_TEST_MYSQL_PASS
	rows_sql() { my -B -N -e "SELECT id, JSON_UNQUOTE(JSON_EXTRACT(data,'$.hash')), JSON_UNQUOTE(JSON_EXTRACT(data,'$.path')) FROM $schema.item ORDER BY id"; }
	make_table() {
		my -e "DROP DATABASE IF EXISTS $schema; CREATE DATABASE $schema;
			CREATE TABLE $schema.item (id int NOT NULL, data json NOT NULL COMMENT ':<hash@main>:payload', PRIMARY KEY (id)) COMMENT 'gc writer test'"
	}
fi

# verify KIND: every live row decodes and its object hashes to its metadata
readback() { # NAME CONFIG EXPECTED(ids hashes)
	local name=$1 cfg=$2 want=$3
	rows_sql >rows.txt
	check "$name: the table holds exactly the rows the writer left" \
		'diff <(cut -f1,2 rows.txt | tr "\t" " ") "$want" >/dev/null'
	"$DJRUN" fetch "$schema.Item" --config "$cfg" >fetched.jsonl 2>err; rc=$?
	check "$name: every row decodes (djrun fetch)" '[ $rc -eq 0 ] && [ "$(wc -l <fetched.jsonl)" -eq "$(wc -l <rows.txt)" ]' || head -3 err >&2
	python3 - "$cfg" rows.txt <<'PY' >verify.out 2>&1; bad=$?
import base64, hashlib, json, os, sys
st = json.load(open(sys.argv[1]))["stores"]["main"]
if st["protocol"] == "file":
    read = lambda p: open(os.path.join(st["location"], p), "rb").read()
else:
    import boto3
    s3 = boto3.client("s3", endpoint_url=st["endpoint"], aws_access_key_id=st["access_key"],
                      aws_secret_access_key=st["secret_key"], region_name="us-east-1")
    read = lambda p: s3.get_object(Bucket=st["bucket"], Key=st["location"] + "/" + p)["Body"].read()
bad = 0
for line in open(sys.argv[2]):
    i, h, p = line.rstrip("\n").split("\t")
    try:
        got = base64.b32encode(hashlib.md5(read(p)).digest()).decode().rstrip("=").lower()
    except Exception as e:
        print("row %s: %s missing (%s)" % (i, p, type(e).__name__)); bad += 1; continue
    if got != h:
        print("row %s: content hash %s != %s" % (i, got, h)); bad += 1
sys.exit(min(bad, 100))
PY
	[ $bad -eq 0 ] || head -5 verify.out >&2
	check "$name: every object present and hash-verified ($(wc -l <rows.txt) rows)" '[ $bad -eq 0 ]'
}

round() { # NAME CONFIG RANKS WRITER-ARGS...
	local name=$1 cfg=$2 n=$3; shift 3
	make_table
	python3 "$here/gc_writer.py" "$@" "$schema" "$secs" want.txt >writer.out 2>&1 &
	local wpid=$! runs=0 failed=0 deleted=0 restored=0 kept=0
	sleep 2
	while kill -0 $wpid 2>/dev/null; do
		if [ "$n" -le 1 ]; then
			"$DJRUN" gc "$schema" --config "$cfg" --collect --grace 0s --hold 2s --json >g.json 2>g.err
		else
			timeout 120 "$MPIEXEC" --oversubscribe -n "$n" "$DJRUN" gc "$schema" --config "$cfg" --collect --grace 0s --hold 2s --json >g.json 2>g.err
		fi || { failed=$((failed + 1)); cat g.err >&2; }
		runs=$((runs + 1))
		read -r d r k < <(python3 -c 'import json,sys; g=json.load(open("g.json")); print(g["deleted"], g["restored"], g["kept_by_recheck"])' 2>/dev/null || echo "0 0 0")
		deleted=$((deleted + d)) restored=$((restored + r)) kept=$((kept + k))
	done
	wait $wpid; rc=$?
	cat writer.out
	echo "$name: $runs gc runs, $deleted deleted, $kept kept by the re-check, $restored restored"
	check "$name: the writer ran without an error" '[ $rc -eq 0 ] && grep -q "dedup hits" writer.out'
	check "$name: the writer had dedup hits" '[ "$(sed -n "s/.* \([0-9]*\) dedup hits.*/\1/p" writer.out)" -gt 0 ]'
	check "$name: every gc run exited 0 ($runs runs)" '[ $failed -eq 0 ] && [ $runs -ge 2 ]'
	check "$name: gc deleted objects meanwhile" '[ $deleted -gt 0 ]'
	readback "$name" "$cfg" want.txt
}

mkdir -p "$tmp/file"
printf '{"stores": {"default": "main", "main": {"protocol": "file", "location": "%s"}}}\n' "$tmp/file" >"$tmp/file.json"
round file "$tmp/file.json" "${DJ_GC_FILE_RANKS:-1}" file "$tmp/file"

if [ "$backend" = mysql ] && need DJ_TEST_S3_ENDPOINT; then
	loc=gcw-$$-$RANDOM
	python3 - "$tmp/s3.json" "$loc" <<'PY'
import json, os, sys
e = os.environ
s3 = {"protocol": "s3", "endpoint": e["DJ_TEST_S3_ENDPOINT"], "bucket": e["DJ_TEST_S3_BUCKET"],
      "location": sys.argv[2], "access_key": e["DJ_TEST_S3_ACCESS_KEY"],
      "secret_key": e["DJ_TEST_S3_SECRET_KEY"], "secure": False}
json.dump({"stores": {"default": "main", "main": s3}}, open(sys.argv[1], "w"))
PY
	round s3 "$tmp/s3.json" 2 s3 "$DJ_TEST_S3_ENDPOINT" "$DJ_TEST_S3_BUCKET" "$loc" "$DJ_TEST_S3_ACCESS_KEY" "$DJ_TEST_S3_SECRET_KEY"
	"$DJRUN" store ls main --config "$tmp/s3.json" | while read -r k; do "$DJRUN" store rm main "$k" --config "$tmp/s3.json"; done
fi

echo "gc concurrent checks: $passes passed, $fails failed"
[ $fails -eq 0 ]
