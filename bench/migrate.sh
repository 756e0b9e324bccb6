#!/usr/bin/env bash
# Benchmark of djrun migrate to-store (not part of ctest). A MariaDB table of N rows (default
# 8192) whose in-table <blob> column holds 256 KiB packed uint8 arrays of random bytes (made by
# the server: RANDOM_BYTES, incompressible, so stored raw exactly as datajoint-python packs them),
# N * 256 KiB in all (2.1 GB by default), in two copies (t1, t2). Timed in the same run:
#   select   raw SELECT of the column through djrun's database layer (bench_migrate select)
#   write    MD5 + put of the same number of 256 KiB objects into a file store (bench_migrate)
#   migrate  djrun migrate to-store t1.trace --codec '<blob@f>' --execute with 1 rank, then t2
#            with mpirun -n 4: the fill throughput (read + hash + write + metadata commits) and
#            the whole run (plus verify: every object read back and re-hashed, and the swap)
# Stores are written without fsync in every figure (--no-sync, like the write baseline).
#
# usage: bench/migrate.sh   (needs DJRUN = a Release djrun, BENCH_MIGRATE = its bench_migrate,
#                            DJ_TEST_MYSQL_* from tests/services/mariadb.sh start; N to scale)
set -uo pipefail
: "${DJRUN:?set DJRUN to a djrun binary (a Release build)}" "${DJ_TEST_MYSQL_HOST:?}"
: "${BENCH_MIGRATE:=$(dirname "$DJRUN")/bench_migrate}"
N=${N:-8192}
MPIEXEC=${MPIEXEC:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 DJ_IGNORE_CONFIG_FILE=1
work=${BENCH_DIR:-$(mktemp -d /tmp/djb_mig.XXXXXX)}
S=djb_mig_$$
my() { MYSQL_PWD=$DJ_TEST_MYSQL_PASS mariadb --no-defaults -h "$DJ_TEST_MYSQL_HOST" -P "$DJ_TEST_MYSQL_PORT" -u "$DJ_TEST_MYSQL_USER" "$@"; }
trap 'my -e "DROP DATABASE IF EXISTS $S" 2>/dev/null; rm -rf "$work"' EXIT
export DJ_HOST=$DJ_TEST_MYSQL_HOST:$DJ_TEST_MYSQL_PORT DJ_USER=$DJ_TEST_MYSQL_USER DJ_PASS=$DJ_TEST_MYSQL_PASS
now() { date +%s.%N; }
mbs() { python3 -c "import sys; b,t=float(sys.argv[1]),float(sys.argv[2]); print('%.1f' % (b/1e6/t))" "$@"; }
echo "bench/migrate.sh: $N rows of 256 KiB, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
df -h "$work" | tail -1

# 256 KiB of server-made random bytes behind the blob header of a 1-d uint8 array:
# "mYm\0" "A" u64 ndim=1 u64 n=262144 u32 type=9 (uint8) u32 complex=0
rnd=$(python3 -c "print(', '.join(['RANDOM_BYTES(1024)'] * 256))")
my -e "CREATE DATABASE $S"
my "$S" -e "CREATE TABLE t1 (id int NOT NULL COMMENT ':int32:', trace longblob NOT NULL COMMENT ':<blob>:raw', PRIMARY KEY (id)) COMMENT 'bench'"
t0=$(now)
for ((i = 0; i < N; i += 256)); do
	hi=$((i + 256 < N ? i + 256 : N))
	my "$S" -e "INSERT INTO t1 SELECT seq, CONCAT(X'6D596D0041010000000000000000000400000000000900000000000000', $rnd) FROM seq_${i}_to_$((hi - 1))" || exit 1
done
my "$S" -e "CREATE TABLE t2 LIKE t1; INSERT INTO t2 SELECT * FROM t1"
bytes=$(my -N "$S" -e "SELECT SUM(LENGTH(trace)) FROM t1")
echo "loaded 2 x $bytes bytes in $(python3 -c "print('%.0f' % ($(now) - $t0))") s"

cat >"$work/datajoint.json" <<EOF
{"stores": {"f": {"protocol": "file", "location": "$work/store1"},
            "g": {"protocol": "file", "location": "$work/store4"}}}
EOF
mkdir -p "$work/store1" "$work/store4" "$work/raw"

sel=$("$BENCH_MIGRATE" select "SELECT trace FROM $S.t1")
wr=$("$BENCH_MIGRATE" write "$work/raw" "$N" 256)
rm -rf "$work/raw"
sel_mbs=$(echo "$sel" | cut -d' ' -f4) wr_mbs=$(echo "$wr" | cut -d' ' -f4)

run() { # NAME RANKS TABLE STORE
	local out=$work/$1.json t
	t=$(now)
	if [ "$2" -eq 1 ]; then
		"$DJRUN" migrate to-store "$S.$3.trace" --codec "<blob@$4>" --execute --no-sync --json --config "$work/datajoint.json" >"$out" 2>"$work/$1.err"
	else
		"$MPIEXEC" --oversubscribe -n "$2" "$DJRUN" migrate to-store "$S.$3.trace" --codec "<blob@$4>" --execute --no-sync --json --config "$work/datajoint.json" >"$out" 2>"$work/$1.err"
	fi
	local rc=$?
	[ $rc -eq 0 ] || { echo "migrate failed ($rc)"; cat "$work/$1.err"; }
	python3 - "$out" "$bytes" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); b = float(sys.argv[2])
assert j["swapped"] and j["rows_bad"] == 0, j
print("%.1f %.1f %.1f %d" % (j["fill_mb_per_s"], b / 1e6 / j["wall_s"], j["wall_s"], j["rows_verified"]))
PY
}
r1=$(run m1 1 t1 f)
r4=$(run m4 4 t2 g)
lim=$(python3 -c "print(min($sel_mbs, $wr_mbs))")
pct() { python3 -c "print('%.0f%%' % (100 * $1 / $lim))"; }
printf '\n%-44s %10s\n' "what (N=$N x 256 KiB, $(python3 -c "print('%.2f' % ($bytes / 1e9))") GB)" "MB/s"
printf '%-44s %10s\n' "raw SELECT of the column (bench_migrate)" "$sel_mbs"
printf '%-44s %10s\n' "MD5 + put to the file store (bench_migrate)" "$wr_mbs"
set -- $r1
printf '%-44s %10s   %s of the smaller limit\n' "migrate fill, 1 rank" "$1" "$(pct "$1")"
printf '%-44s %10s   (%s s with verify + swap, %s rows verified)\n' "migrate end to end, 1 rank" "$2" "$3" "$4"
set -- $r4
printf '%-44s %10s   %s of the smaller limit\n' "migrate fill, 4 ranks (mpirun)" "$1" "$(pct "$1")"
printf '%-44s %10s   (%s s with verify + swap, %s rows verified)\n' "migrate end to end, 4 ranks" "$2" "$3" "$4"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
