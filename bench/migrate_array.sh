#!/usr/bin/env bash
# Benchmark of djrun migrate to-npy / to-object (not part of ctest). A MariaDB table of N rows
# (default 2048) whose in-table <blob> column holds 256 x 128 float64 arrays of server-made random
# bytes (256 KiB each, stored raw as datajoint-python packs them), in four copies. Timed in the
# same run, beside:
#   select   raw SELECT of the column through djrun's database layer (bench_migrate select)
#   np.save  Debian python3 + numpy writing the same number of 256 x 128 float64 .npy files
#   cp       cp -r of the .npy tree djrun wrote (the file system's copy rate)
# then djrun migrate to-npy with 1 rank and with mpirun -n 4, to-object --format zarr and
# --format hdf5 with mpirun -n 4: the fill rate (read + unpack + convert + write + metadata
# commits, MB of blobs per second) and end to end (plus verify: every value converted again and
# the stored bytes re-hashed, and the swap). Stores are written without fsync (--no-sync).
#
# usage: bench/migrate_array.sh  (DJRUN = a Release djrun, BENCH_MIGRATE = its bench_migrate,
#                                 DJ_TEST_MYSQL_* from tests/services/mariadb.sh start; N to scale)
set -uo pipefail
: "${DJRUN:?set DJRUN to a djrun binary (a Release build)}" "${DJ_TEST_MYSQL_HOST:?}"
: "${BENCH_MIGRATE:=$(dirname "$DJRUN")/bench_migrate}"
N=${N:-2048}
MPIEXEC=${MPIEXEC:-mpirun}
PY=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 DJ_IGNORE_CONFIG_FILE=1
work=${BENCH_DIR:-$(mktemp -d /tmp/djb_arr.XXXXXX)}
mkdir -p "$work"
S=djb_arr_$$
my() { MYSQL_PWD=$DJ_TEST_MYSQL_PASS mariadb --no-defaults -h "$DJ_TEST_MYSQL_HOST" -P "$DJ_TEST_MYSQL_PORT" -u "$DJ_TEST_MYSQL_USER" "$@"; }
trap 'my -e "DROP DATABASE IF EXISTS $S" 2>/dev/null; rm -rf "$work"' EXIT
export DJ_HOST=$DJ_TEST_MYSQL_HOST:$DJ_TEST_MYSQL_PORT DJ_USER=$DJ_TEST_MYSQL_USER DJ_PASS=$DJ_TEST_MYSQL_PASS
now() { date +%s.%N; }
echo "bench/migrate_array.sh: $N rows of 256 KiB, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# "mYm\0" "A" u64 ndim=2 u64 256 u64 128 u32 type=6 (float64) u32 complex=0, then 256 KiB
rnd=$($PY -c "print(', '.join(['RANDOM_BYTES(1024)'] * 256))")
hdr=6D596D00410200000000000000000100000000000080000000000000000600000000000000
my -e "CREATE DATABASE $S"
my "$S" -e "CREATE TABLE t1 (id int NOT NULL COMMENT ':int32:', trace longblob NOT NULL COMMENT ':<blob>:raw', PRIMARY KEY (id)) COMMENT 'bench'"
for ((i = 0; i < N; i += 256)); do
	hi=$((i + 256 < N ? i + 256 : N))
	my "$S" -e "INSERT INTO t1 SELECT seq, CONCAT(X'$hdr', $rnd) FROM seq_${i}_to_$((hi - 1))" || exit 1
done
for t in t2 t3 t4; do my "$S" -e "CREATE TABLE $t LIKE t1; INSERT INTO $t SELECT * FROM t1"; done
bytes=$(my -N "$S" -e "SELECT SUM(LENGTH(trace)) FROM t1")
cat >"$work/datajoint.json" <<JSON
{"stores": {"default": "f", "f": {"protocol": "file", "location": "$work/store"}}}
JSON
mkdir -p "$work/store" "$work/np"

sel=$("$BENCH_MIGRATE" select "SELECT trace FROM $S.t1" | cut -d' ' -f4)
npsave=$($PY - "$work/np" "$N" <<'PY'
import os, sys, time
import numpy as np
d, n = sys.argv[1], int(sys.argv[2])
a = np.frombuffer(os.urandom(256 * 128 * 8), dtype="<f8").reshape(256, 128, order="F")
t = time.time()
for i in range(n):
    np.save(f"{d}/{i}.npy", np.asfortranarray(a))
print("%.1f" % (n * a.nbytes / 1e6 / (time.time() - t)))
PY
)
rm -rf "$work/np"

run() { # NAME RANKS TABLE ACTION...
	local name=$1 ranks=$2 table=$3 out=$work/$1.json
	shift 3
	if [ "$ranks" -eq 1 ]; then
		"$DJRUN" migrate "$@" "$S.$table.trace" --execute --no-sync --json --config "$work/datajoint.json" >"$out" 2>"$work/$name.err"
	else
		"$MPIEXEC" --oversubscribe -n "$ranks" "$DJRUN" migrate "$@" "$S.$table.trace" --execute --no-sync --json --config "$work/datajoint.json" >"$out" 2>"$work/$name.err"
	fi
	[ $? -eq 0 ] || { echo "migrate $name failed" >&2; cat "$work/$name.err" >&2; }
	$PY - "$out" "$bytes" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); b = float(sys.argv[2])
assert j["swapped"] and j["rows_bad"] == 0 and j["rows_refused"] == 0, j
print("%.1f %.1f %.1f %d" % (j["fill_mb_per_s"], b / 1e6 / j["wall_s"], j["wall_s"], j["rows_verified"]))
PY
}
r1=$(run npy1 1 t1 to-npy)
t=$(now); cp -r "$work/store/_schema" "$work/copy"; cps=$($PY -c "print('%.1f' % ($bytes / 1e6 / ($(now) - $t)))"); rm -rf "$work/copy"
r4=$(run npy4 4 t2 to-npy)
rz=$(run zarr4 4 t3 to-object --format zarr)
rh=$(run hdf54 4 t4 to-object --format hdf5)

printf '\n%-46s %10s\n' "what (N=$N x 256 KiB, $($PY -c "print('%.2f' % ($bytes / 1e9))") GB)" "MB/s"
printf '%-46s %10s\n' "raw SELECT of the column (bench_migrate)" "$sel"
printf '%-46s %10s\n' "python np.save of the same arrays (1 process)" "$npsave"
printf '%-46s %10s\n' "cp -r of the .npy tree" "$cps"
line() { set -- "$1" $2; printf '%-46s %10s   end to end %s MB/s (%s s, %s rows verified)\n' "$1" "$2" "$3" "$4" "$5"; }
line "to-npy fill, 1 rank" "$r1"
line "to-npy fill, 4 ranks (mpirun)" "$r4"
line "to-object zarr fill, 4 ranks" "$rz"
line "to-object hdf5 fill, 4 ranks" "$rh"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
