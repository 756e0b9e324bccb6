#!/usr/bin/env bash
# Benchmark of djrun gc (not part of ctest). A file store with N hash objects (default 500,000)
# in _hash/SCHEMA/, half of them named by rows of a MariaDB table (rows written in SQL directly,
# objects written directly: valid metadata, real content hashes), half orphaned. For 1, 2 and 4
# ranks: the dry run (reference scan + listing + decision) in objects/s, and --collect's
# deletion rate (tombstone + purge of the orphans) in objects/s, beside `find -type f | wc -l`
# over the same store and `rm -rf` of the same number of files, timed in the same run. Then the
# same on the S3 server with S3_N objects (default 10,000), beside a raw ListObjectsV2 walk and
# DeleteObjects batches of 1000 (boto3).
#
# usage: bench/gc.sh            (needs DJRUN = a Release build, DJ_TEST_MYSQL_*, DJ_TEST_S3_*)
#        N=0 skips the file store, RANKS="1 4" chooses the rank counts.
set -uo pipefail
: "${DJRUN:?set DJRUN to a djrun binary (a Release build)}" "${DJ_TEST_MYSQL_HOST:?}"
N=${N:-500000}
S3_N=${S3_N:-10000}
MPIEXEC=${MPIEXEC:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=${BENCH_DIR:-$(mktemp -d)}
schema=djb_gc_$$
my() { MYSQL_PWD=$DJ_TEST_MYSQL_PASS mariadb --no-defaults -h "$DJ_TEST_MYSQL_HOST" -P "$DJ_TEST_MYSQL_PORT" -u "$DJ_TEST_MYSQL_USER" "$@"; }
trap 'my -e "DROP DATABASE IF EXISTS $schema" 2>/dev/null; rm -rf "$work"' EXIT
export DJ_HOST=$DJ_TEST_MYSQL_HOST:$DJ_TEST_MYSQL_PORT DJ_USER=$DJ_TEST_MYSQL_USER DJ_PASS=$DJ_TEST_MYSQL_PASS
now() { date +%s.%N; }
rate() { python3 -c "import sys; n,t=float(sys.argv[1]),float(sys.argv[2]); print('%.0f' % (n/t if t>0 else 0))" "$@"; }
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$@"; }

# gen ROOT FROM TO: objects FROM..TO-1 (content "obj<i>") under ROOT/_hash/SCHEMA; prints "i hash size"
gen() {
	python3 - "$@" "$schema" <<'PY'
import base64, hashlib, os, sys
root, a, b, schema = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
d = os.path.join(root, "_hash", schema)
os.makedirs(d, exist_ok=True)
out = sys.stdout
for i in range(a, b):
    data = b"obj%d " % i * 8
    h = base64.b32encode(hashlib.md5(data).digest()).decode().rstrip("=").lower()
    if root != "-":
        fd = os.open(os.path.join(d, h), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.close(fd)
    out.write("%d %s %d\n" % (i, h, len(data)))
PY
}

echo "gc benchmark: $N hash objects on a file store ($work), half orphaned; $(nproc) cores;"
echo "machine load at start: $(cut -d' ' -f1-3 /proc/loadavg) (other builds may run at the same time)"
my -e "DROP DATABASE IF EXISTS $schema; CREATE DATABASE $schema;
	CREATE TABLE $schema.item (id int NOT NULL, data json NOT NULL COMMENT ':<hash@main>:payload', PRIMARY KEY (id))"
mkdir -p "$work/store"
printf '{"stores": {"default": "main", "main": {"protocol": "file", "location": "%s"}}}\n' "$work/store" >"$work/dj.json"
half=$((N / 2))
t0=$(now)
gen "$work/store" 0 "$half" >"$work/ref.txt"
# the S3 part needs rows for its first S3_N/2 objects even when the file part is skipped
[ "$half" -lt $((S3_N / 2)) ] && { gen "$work/norows" 0 $((S3_N / 2)) >"$work/ref.txt"; rm -rf "$work/norows"; }
python3 - "$work/ref.txt" "$schema" <<'PY' | my
import json, sys
rows = [l.split() for l in open(sys.argv[1])]
s = sys.argv[2]
for k in range(0, len(rows), 5000):
    vals = ",".join("(%s,'%s')" % (i, json.dumps({"hash": h, "path": "_hash/%s/%s" % (s, h), "schema": s,
                    "store": "main", "size": int(n)})) for i, h, n in rows[k:k + 5000])
    print("INSERT INTO `%s`.`item` VALUES %s;" % (s, vals))
PY
echo "setup: $half referenced objects + rows in $(python3 -c "print('%.1f' % ($(now) - $t0))") s"

[ "$N" -gt 0 ] && printf '\n%-6s %-14s %-16s %-12s %-16s %-14s %-10s\n' ranks "find|wc obj/s" "dry run obj/s" "dry/find" "rm -rf files/s" "gc del obj/s" "del/rm"
for n in $([ "$N" -gt 0 ] && echo ${RANKS:-1 2 4}); do
	gen "$work/store" "$half" "$N" >/dev/null # (re)create the orphans
	sync
	# baselines in the same run: find over the store, rm -rf of as many files as gc deletes
	t=$(now); cnt=$(find "$work/store" -type f | wc -l); tf=$(python3 -c "print($(now) - $t)")
	mkdir -p "$work/rm/_hash/$schema"; gen "$work/rm" "$half" "$N" >/dev/null; sync
	t=$(now); rm -rf "$work/rm"; trm=$(python3 -c "print($(now) - $t)")
	run() { if [ "$n" -eq 1 ]; then "$DJRUN" gc "$@"; else "$MPIEXEC" --oversubscribe -n "$n" "$DJRUN" gc "$@"; fi; }
	run "$schema" --config "$work/dj.json" --grace 0s --json >"$work/dry.json" 2>"$work/err" || cat "$work/err"
	run "$schema" --config "$work/dj.json" --grace 0s --hold 0s --collect --json >"$work/col.json" 2>"$work/err" || cat "$work/err"
	dry_s=$(field "$work/dry.json" seconds); stored=$(field "$work/dry.json" hash_paths_stored)
	del=$(field "$work/col.json" deleted)
	del_s=$(python3 -c "import json; g=json.load(open('$work/col.json')); print(g['delete_s'] + g['postcheck_s'] + g['purge_s'])")
	[ "$stored" = "$cnt" ] && [ "$del" = "$half" ] || echo "  (check: stored $stored, listed by find $cnt, deleted $del, expected $half)"
	fr=$(rate "$cnt" "$tf"); dr=$(rate "$stored" "$dry_s"); rr=$(rate "$half" "$trm"); gr=$(rate "$del" "$del_s")
	printf '%-6s %-14s %-16s %-12s %-16s %-14s %-10s\n' "$n" "$fr" "$dr" \
		"$(python3 -c "print('%.2f' % ($dr / $fr))")" "$rr" "$gr" "$(python3 -c "print('%.2f' % ($gr / $rr))")"
	echo "       collect total $(field "$work/col.json" seconds) s: scan $(field "$work/col.json" scan_s), list $(field "$work/col.json" list_s), re-check $(field "$work/col.json" recheck_s), tombstones $(field "$work/col.json" delete_s), post-check $(field "$work/col.json" postcheck_s), purge $(field "$work/col.json" purge_s)"
done

if [ -n "${DJ_TEST_S3_ENDPOINT:-}" ]; then
	loc=gcbench-$$
	python3 - "$work/s3.json" "$loc" <<'PY'
import json, os, sys
e = os.environ
s3 = {"protocol": "s3", "endpoint": e["DJ_TEST_S3_ENDPOINT"], "bucket": e["DJ_TEST_S3_BUCKET"],
      "location": sys.argv[2], "access_key": e["DJ_TEST_S3_ACCESS_KEY"],
      "secret_key": e["DJ_TEST_S3_SECRET_KEY"], "secure": False}
json.dump({"stores": {"default": "main", "main": s3}}, open(sys.argv[1], "w"))
PY
	my -e "DELETE FROM $schema.item WHERE id >= $((S3_N / 2))"
	# s3op put FROM TO | list | delete-all: boto3 against the same server (the baseline)
	s3op() {
		python3 - "$loc" "$schema" "$@" <<'PY'
import base64, hashlib, os, sys, time
import boto3
from concurrent.futures import ThreadPoolExecutor
e = os.environ
loc, schema, op = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client("s3", endpoint_url=e["DJ_TEST_S3_ENDPOINT"], aws_access_key_id=e["DJ_TEST_S3_ACCESS_KEY"],
                  aws_secret_access_key=e["DJ_TEST_S3_SECRET_KEY"], region_name="us-east-1")
B = e["DJ_TEST_S3_BUCKET"]
def keys():
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=B, Prefix=loc + "/"):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out
t = time.time()
if op == "put":
    def put(i):
        data = b"obj%d " % i * 8
        h = base64.b32encode(hashlib.md5(data).digest()).decode().rstrip("=").lower()
        s3.put_object(Bucket=B, Key="%s/_hash/%s/%s" % (loc, schema, h), Body=data)
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(put, range(int(sys.argv[4]), int(sys.argv[5]))))
elif op == "list":
    print(len(keys()), time.time() - t)
else:
    ks = keys(); t = time.time()
    for k in range(0, len(ks), 1000):
        s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": x} for x in ks[k:k + 1000]]})
    print(len(ks), time.time() - t)
PY
	}
	echo; echo "S3 (s3rver): $S3_N hash objects, half orphaned"
	printf '%-6s %-14s %-16s %-18s %-14s\n' ranks "list obj/s" "dry run obj/s" "DeleteObjects/s" "gc del obj/s"
	s3op put 0 "$((S3_N / 2))"
	for n in ${RANKS:-1 2 4}; do
		s3op put "$((S3_N / 2))" "$S3_N"
		read -r lc lt < <(s3op list)
		run() { if [ "$n" -eq 1 ]; then "$DJRUN" gc "$@"; else "$MPIEXEC" --oversubscribe -n "$n" "$DJRUN" gc "$@"; fi; }
		run "$schema" --config "$work/s3.json" --grace 0s --json >"$work/dry.json" 2>"$work/err" || cat "$work/err"
		run "$schema" --config "$work/s3.json" --grace 0s --hold 0s --collect --json >"$work/col.json" 2>"$work/err" || cat "$work/err"
		# baseline delete: the same number of objects, uploaded again, removed with raw DeleteObjects
		s3op put "$((S3_N / 2))" "$S3_N"
		my -e "SELECT 1" >/dev/null
		python3 - "$loc" "$schema" "$((S3_N / 2))" <<'PY' >"$work/b.txt"
import base64, hashlib, os, sys, time
import boto3
e = os.environ
loc, schema, a = sys.argv[1], sys.argv[2], int(sys.argv[3])
s3 = boto3.client("s3", endpoint_url=e["DJ_TEST_S3_ENDPOINT"], aws_access_key_id=e["DJ_TEST_S3_ACCESS_KEY"],
                  aws_secret_access_key=e["DJ_TEST_S3_SECRET_KEY"], region_name="us-east-1")
ks = []
for i in range(a, 2 * a):
    data = b"obj%d " % i * 8
    ks.append("%s/_hash/%s/%s" % (loc, schema, base64.b32encode(hashlib.md5(data).digest()).decode().rstrip("=").lower()))
t = time.time()
for k in range(0, len(ks), 1000):
    s3.delete_objects(Bucket=e["DJ_TEST_S3_BUCKET"], Delete={"Objects": [{"Key": x} for x in ks[k:k + 1000]]})
print(len(ks), time.time() - t)
PY
		read -r bc bt <"$work/b.txt"
		del=$(field "$work/col.json" deleted)
		del_s=$(python3 -c "import json; g=json.load(open('$work/col.json')); print(g['delete_s'] + g['postcheck_s'] + g['purge_s'])")
		printf '%-6s %-14s %-16s %-18s %-14s\n' "$n" "$(rate "$lc" "$lt")" \
			"$(rate "$(field "$work/dry.json" hash_paths_stored)" "$(field "$work/dry.json" seconds)")" \
			"$(rate "$bc" "$bt")" "$(rate "$del" "$del_s")"
		echo "       collect: tombstones (CopyObject + DeleteObjects) $(field "$work/col.json" delete_s) s, post-check $(field "$work/col.json" postcheck_s) s, purge (DeleteObjects) $(field "$work/col.json" purge_s) s"
	done
	s3op delete >/dev/null
fi
echo "machine load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
