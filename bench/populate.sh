#!/usr/bin/env bash
# populate throughput on a private MariaDB (Release build), each figure beside the database's
# round-trip time measured in the same run:
#   1. trivial C plugin make, 1 process, jobs table on, every insert committed   (goal <= 0.1 ms/key)
#   2. the same with a 1 KiB <blob@> output per key on a file store             (goal <= 0.3 ms/key)
#   3. --make-server with a trivial Python make (tests/plugins/square_server.py --min)
#                                                                              (goal >= 2,000 keys/s)
#   4. a make command that sleeps 50 ms: mpirun -n 4 vs one process            (goal >= 3.5x)
#   5. a 1 MiB <blob@> output per key (C plugin): one process vs mpirun -n 4, with the bytes
#      that reached rank 0 (under MPI the workers write the objects and send their metadata)
# datajoint-python 2.3 on this kind of machine (issue 5): 0.89 ms/key direct, 2.19 ms/key with
# its jobs table, 5.9 ms/key with a 1 KiB <blob@> output. Usage: bench/populate.sh [KEYS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${DJ_BENCH_BUILD_DIR:-$root/build-bench}
keys=${1:-20000}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDJ_SANITIZE=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
djrun=$build/djrun
tmp=$(mktemp -d /tmp/djrun-bench-pop.XXXXXX)
trap '"$root/tests/services/mariadb.sh" stop "$tmp/db" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
eval "export $("$root/tests/services/mariadb.sh" start "$tmp/db")"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
S=bench_pop
my() { MYSQL_PWD=$DJ_TEST_MYSQL_PASS mariadb --no-defaults -h "$DJ_TEST_MYSQL_HOST" -P "$DJ_TEST_MYSQL_PORT" -u "$DJ_TEST_MYSQL_USER" "$@"; }
cd "$tmp"
mkdir store
printf '{"database": {"host": "%s", "port": %s, "user": "%s", "password": "%s"},
 "stores": {"default": "main", "main": {"protocol": "file", "location": "%s/store"}}}\n' \
	"$DJ_TEST_MYSQL_HOST" "$DJ_TEST_MYSQL_PORT" "$DJ_TEST_MYSQL_USER" "$DJ_TEST_MYSQL_PASS" "$tmp" \
	>datajoint.json

my -e "CREATE DATABASE $S"
my "$S" <<SQL
CREATE TABLE item (item_id int NOT NULL COMMENT ':int32:', PRIMARY KEY (item_id)) COMMENT='input';
CREATE TABLE __square (item_id int NOT NULL COMMENT ':int32:', sq bigint NOT NULL COMMENT ':int64:',
  PRIMARY KEY (item_id), FOREIGN KEY (item_id) REFERENCES item (item_id)) COMMENT='trivial';
CREATE TABLE __signal (item_id int NOT NULL COMMENT ':int32:', sq bigint NOT NULL COMMENT ':int64:',
  sig json NOT NULL COMMENT ':<blob@main>:1 KiB',
  PRIMARY KEY (item_id), FOREIGN KEY (item_id) REFERENCES item (item_id)) COMMENT='1 KiB blob';
CREATE TABLE __big (item_id int NOT NULL COMMENT ':int32:', sq bigint NOT NULL COMMENT ':int64:',
  sig json NOT NULL COMMENT ':<blob@main>:1 MiB',
  PRIMARY KEY (item_id), FOREIGN KEY (item_id) REFERENCES item (item_id)) COMMENT='1 MiB blob';
CREATE TABLE __nap (item_id int NOT NULL COMMENT ':int32:', PRIMARY KEY (item_id),
  FOREIGN KEY (item_id) REFERENCES item (item_id)) COMMENT='sleeps';
SQL
python3 -c "
import sys
n = int(sys.argv[1])
print('INSERT INTO item VALUES ' + ','.join('(%d)' % i for i in range(1, n + 1)) + ';')" "$keys" |
	my "$S"

# The round trip: 2,000 statements through one connection.
printf 'DO 1;\n%.0s' $(seq 1 2000) >rtt.sql
t0=$(date +%s.%N)
my "$S" <rtt.sql
t1=$(date +%s.%N)
rtt_us=$(echo "($t1 - $t0) * 1000000 / 2000" | bc -l)
printf 'database round trip (DO 1, mariadb client, one connection)  %8.1f us\n' "$rtt_us"

summary() { tail -1 "$1" | python3 -c "
import json, sys
d = json.loads(sys.stdin.read())
print(d['done'], d['failed'], d['wall_s'])"; }

# run LABEL TABLE KEYS -- djrun populate arguments: prints ms/key and keys/s from the summary
run() {
	local label=$1 table=$2 n=$3
	shift 4
	my "$S" -e "DELETE FROM \`$table\`; DROP TABLE IF EXISTS \`~~${table#__}\`"
	"$@" >out.json 2>err.txt || { cat err.txt >&2; return 1; }
	read -r done failed wall < <(summary out.json)
	[ "$done" = "$n" ] && [ "$failed" = 0 ] || { echo "$label: $done of $n done" >&2; cat err.txt >&2; return 1; }
	printf '%-58s %8.4f ms/key %9.0f keys/s\n' "$label ($n keys)" \
		"$(echo "$wall * 1000 / $n" | bc -l)" "$(echo "$n / $wall" | bc -l)"
}

plugins=$build/plugins
run "1. C plugin, 1 process, jobs table, batch 1000" __square "$keys" -- \
	"$djrun" populate "$S.Square" --reserve-jobs --batch 1000 --json --make-plugin "$plugins/bench_kib.so"
run "2. C plugin + 1 KiB <blob@> (file store), 1 process, jobs" __signal "$keys" -- \
	"$djrun" populate "$S.Signal" --reserve-jobs --batch 1000 --json --make-plugin "$plugins/bench_kib.so kib"
n3=$((keys / 4))
run "3. --make-server, trivial Python make, 1 process, jobs" __square "$n3" -- \
	"$djrun" populate "$S.Square" --reserve-jobs --batch 1000 --json --max-calls "$n3" \
	--make-server "python3 $root/tests/plugins/square_server.py --min"

cat >nap.sh <<'SH'
#!/bin/sh
sleep 0.05
echo '{}' >"$DJRUN_OUTPUT_DIR/row.json"
SH
chmod +x nap.sh
n4=160
run "4a. make sleeping 50 ms, 1 process" __nap "$n4" -- \
	"$djrun" populate "$S.Nap" --reserve-jobs --json --max-calls "$n4" --make "$tmp/nap.sh"
w1=$(summary out.json | awk '{print $3}')
run "4b. make sleeping 50 ms, mpirun -n 4" __nap "$n4" -- \
	mpirun --oversubscribe -n 4 "$djrun" populate "$S.Nap" --json --max-calls "$n4" --make "$tmp/nap.sh"
w4=$(summary out.json | awk '{print $3}')
printf '%-58s %8.2fx\n' "4. speed-up, 4 ranks vs 1 (goal >= 3.5x)" "$(echo "$w1 / $w4" | bc -l)"

n5=200
for how in "1 process" "mpirun -n 4"; do
	launch=()
	[ "$how" = "1 process" ] || launch=(mpirun --oversubscribe -n 4)
	rm -rf "$tmp/store/_hash"
	run "5. 1 MiB <blob@> per key, $how" __big "$n5" -- \
		"${launch[@]}" "$djrun" populate "$S.Big" --json --max-calls "$n5" \
		--make-plugin "$plugins/bench_kib.so mib"
	python3 - "$n5" <<'PY'
import json, sys
d = json.loads(open("out.json").read().strip().splitlines()[-1])
n = int(sys.argv[1])
print("   %.1f MB/s of objects written, %.1f MB reached rank 0" % (n * 1.048576 / d["wall_s"], d["bytes_moved"] / 1e6))
PY
done
