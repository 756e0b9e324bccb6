#!/usr/bin/env bash
# Benchmark of djrun migrate legacy-external (not part of ctest). A DataJoint 0.14 schema made
# here: a table of N rows (default 1024) whose binary(16) ":blob@f:" column references 0.14
# objects of 256 KiB of random bytes at <schema>/<ab>/<cd>/<uuid> in a file store, plus its
# `~external_f` table; N * 256 KiB in all, in two copies (two schemas, two stores). Timed in the
# same run, on the same files:
#   cp       cp -r of the 0.14 object tree (read + write, the copy part of the work)
#   md5sum   md5sum of every 0.14 object (the hashing part of the work)
#   migrate  djrun migrate legacy-external --execute with 1 rank, then the second copy with
#            mpirun -n 4: the fill throughput (each object read, MD5-checked, written, read back
#            and re-hashed; metadata commits) and the whole run (plus verify: every object read
#            again and re-hashed, and the swap)
# Stores are written without fsync in every figure (--no-sync; cp does not sync either).
#
# usage: bench/migrate_legacy.sh   (needs DJRUN = a Release djrun, DJ_TEST_MYSQL_* from
#                                   tests/services/mariadb.sh start; N to scale)
set -uo pipefail
: "${DJRUN:?set DJRUN to a djrun binary (a Release build)}" "${DJ_TEST_MYSQL_HOST:?}"
N=${N:-1024}
MPIEXEC=${MPIEXEC:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 DJ_IGNORE_CONFIG_FILE=1
work=${BENCH_DIR:-$(mktemp -d /tmp/djb_leg.XXXXXX)}
S1=djb_leg1_$$ S2=djb_leg4_$$
my() { MYSQL_PWD=$DJ_TEST_MYSQL_PASS mariadb --no-defaults -h "$DJ_TEST_MYSQL_HOST" -P "$DJ_TEST_MYSQL_PORT" -u "$DJ_TEST_MYSQL_USER" "$@"; }
trap 'my -e "DROP DATABASE IF EXISTS $S1; DROP DATABASE IF EXISTS $S2" 2>/dev/null; rm -rf "$work"' EXIT
export DJ_HOST=$DJ_TEST_MYSQL_HOST:$DJ_TEST_MYSQL_PORT DJ_USER=$DJ_TEST_MYSQL_USER DJ_PASS=$DJ_TEST_MYSQL_PASS
now() { date +%s.%N; }
secs() { python3 -c "print('%.2f' % ($(now) - $1))"; }
mbs() { python3 -c "print('%.1f' % ($1 / 1e6 / $2))"; }
echo "bench/migrate_legacy.sh: $N objects of 256 KiB, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
df -h "$work" | tail -1

for s in $S1 $S2; do
	mkdir -p "$work/$s"
	python3 - "$s" "$work/$s" "$N" >"$work/$s.sql" <<'PY'
import hashlib, os, struct, sys
s, root, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
print(f"CREATE DATABASE {s}; USE {s};")
print("""CREATE TABLE `~external_f` (`hash` binary(16) NOT NULL COMMENT ':uuid:', `size` bigint unsigned NOT NULL,
  `attachment_name` varchar(255) DEFAULT NULL, `filepath` varchar(1000) DEFAULT NULL, `contents_hash` binary(16) DEFAULT NULL,
  `timestamp` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (`hash`)) ENGINE=InnoDB;
CREATE TABLE t (id int NOT NULL, trace binary(16) NOT NULL COMMENT ':blob@f:raw', PRIMARY KEY (id),
  FOREIGN KEY (trace) REFERENCES `~external_f` (hash)) ENGINE=InnoDB;""")
head = b"mYm\0A" + struct.pack("<QQII", 1, 262144, 9, 0)
ext, rows = [], []
for i in range(n):
    b = head + os.urandom(262144)
    h = hashlib.md5(b).hexdigest()
    d = os.path.join(root, s, h[:2], h[2:4]); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, h), "wb").write(b)
    ext.append(f"(X'{h}', {len(b)})"); rows.append(f"({i}, X'{h}')")
for k in range(0, n, 500):
    print("INSERT INTO `~external_f` (hash, size) VALUES " + ",".join(ext[k:k + 500]) + ";")
    print("INSERT INTO t VALUES " + ",".join(rows[k:k + 500]) + ";")
PY
	my <"$work/$s.sql" || exit 1
done
bytes=$(my -N "$S1" -e "SELECT SUM(size) FROM \`~external_f\`")
sync

t=$(now); cp -r "$work/$S1/$S1" "$work/cp_copy"; cp_s=$(secs "$t"); rm -rf "$work/cp_copy"
t=$(now); find "$work/$S1/$S1" -type f -print0 | xargs -0 md5sum >/dev/null; md5_s=$(secs "$t")

run() { # SCHEMA RANKS
	cat >"$work/$1.json" <<EOF
{"stores": {"f": {"protocol": "file", "location": "$work/$1"}}}
EOF
	local out=$work/$1.out
	if [ "$2" -eq 1 ]; then
		"$DJRUN" migrate legacy-external "$1" --execute --no-sync --json --config "$work/$1.json" >"$out" 2>"$work/$1.err"
	else
		"$MPIEXEC" --oversubscribe -n "$2" "$DJRUN" migrate legacy-external "$1" --execute --no-sync --json --config "$work/$1.json" >"$out" 2>"$work/$1.err"
	fi
	[ $? -eq 0 ] || { echo "migrate failed"; cat "$work/$1.err"; }
	python3 - "$out" "$bytes" "$N" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); b = float(sys.argv[2])
assert j["swapped"] and j["rows_bad"] == 0 and j["rows_verified"] == int(sys.argv[3]), j
print("%.1f %.1f %.2f %d" % (j["fill_mb_per_s"], b / 1e6 / j["wall_s"], j["wall_s"], j["rows_verified"]))
PY
}
r1=$(run "$S1" 1)
r4=$(run "$S2" 4)
printf '\n%-48s %10s\n' "what (N=$N x 256 KiB, $(python3 -c "print('%.2f' % ($bytes / 1e9))") GB)" "MB/s"
printf '%-48s %10s   (%s s)\n' "cp -r of the 0.14 objects (baseline)" "$(mbs "$bytes" "$cp_s")" "$cp_s"
printf '%-48s %10s   (%s s)\n' "md5sum of the 0.14 objects (baseline)" "$(mbs "$bytes" "$md5_s")" "$md5_s"
set -- $r1
printf '%-48s %10s\n' "migrate fill, 1 rank" "$1"
printf '%-48s %10s   (%s s with verify + swap, %s rows verified)\n' "migrate end to end, 1 rank" "$2" "$3" "$4"
set -- $r4
printf '%-48s %10s\n' "migrate fill, 4 ranks (mpirun)" "$1"
printf '%-48s %10s   (%s s with verify + swap, %s rows verified)\n' "migrate end to end, 4 ranks" "$2" "$3" "$4"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
