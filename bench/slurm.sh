#!/usr/bin/env bash
# Benchmark of djrun submit on a real Slurm (not part of ctest): wall time from submission until
# the job has left the queue, for a populate of N keys (default 48) with a trivial python3 make,
# as one process, as 2 ranks through srun --mpi=pmix and through mpirun, and as an array of 2
# tasks; beside, in the same run, `sbatch --wrap true` (Slurm's own turnaround for an empty job)
# and the same populate run directly, without Slurm. Each figure is the median of R runs (3).
#
# usage: bench/slurm.sh   (needs DJRUN = a djrun binary, ideally a Release build, DJ_TEST_MYSQL_*
#                          and SLURM_CONF, e.g. from tests/services/{mariadb,slurm}.sh start)
set -uo pipefail
: "${DJRUN:?set DJRUN to a djrun binary}" "${DJ_TEST_MYSQL_HOST:?}" "${SLURM_CONF:?}"
N=${N:-48}
R=${R:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 DJ_IGNORE_CONFIG_FILE=1
export DJ_HOST=$DJ_TEST_MYSQL_HOST:$DJ_TEST_MYSQL_PORT DJ_USER=$DJ_TEST_MYSQL_USER DJ_PASS=$DJ_TEST_MYSQL_PASS
work=$(mktemp -d)
S=djb_slurm_$$
my() { MYSQL_PWD=$DJ_TEST_MYSQL_PASS mariadb --no-defaults -h "$DJ_TEST_MYSQL_HOST" -P "$DJ_TEST_MYSQL_PORT" -u "$DJ_TEST_MYSQL_USER" "$@"; }
trap 'my -e "DROP DATABASE IF EXISTS $S" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work" || exit 1
now() { date +%s.%N; }
values=$(for i in $(seq 1 "$N"); do printf '(%d)' "$i"; done | sed 's/)(/),(/g')
my -e "CREATE DATABASE $S" && my "$S" <<SQL || exit 1
CREATE TABLE item (item_id int NOT NULL COMMENT ':int32:', PRIMARY KEY (item_id));
CREATE TABLE __square (item_id int NOT NULL COMMENT ':int32:', sq int NOT NULL COMMENT ':int32:',
  _job_start_time datetime(3) DEFAULT NULL, _job_duration float DEFAULT NULL,
  _job_version varchar(64) DEFAULT '', PRIMARY KEY (item_id),
  FOREIGN KEY (item_id) REFERENCES item (item_id));
INSERT INTO item VALUES $values;
SQL
cat >make.py <<'PY'
#!/usr/bin/env python3
import json, os
i = json.load(open(os.environ["DJRUN_KEY_JSON"]))["item_id"]
json.dump({"sq": i * i}, open(os.path.join(os.environ["DJRUN_OUTPUT_DIR"], "row.json"), "w"))
PY
chmod +x make.py
reset() { my "$S" -e 'DELETE FROM __square; DROP TABLE IF EXISTS `~~square`'; }
wait_gone() { while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; do sleep 0.05; done; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# measure NAME CMD...: the median wall time of R runs of CMD (which must leave the table full)
measure() {
	local name=$1 t0 t1
	shift
	for _ in $(seq 1 "$R"); do
		reset
		t0=$(now)
		"$@" || { echo "$name: failed" >&2; return 1; }
		t1=$(now)
		[ "$1" = empty_job ] || [ "$(my -N "$S" -e 'SELECT COUNT(*) FROM __square')" = "$N" ] ||
			echo "$name: table incomplete" >&2
		echo "$t1 - $t0" | bc -l
	done | median | xargs printf '%-44s %7.2f s\n' "$name"
}
empty_job() { local j; j=$(sbatch --parsable -o /dev/null --wrap true) && wait_gone "$j"; }
direct() { "$DJRUN" populate "$S.Square" --make "$work/make.py" >/dev/null 2>&1; }
via_slurm() {
	local j
	j=$("$DJRUN" submit --log-dir "$work/logs" "$@" -- populate "$S.Square" --make "$work/make.py" 2>/dev/null) &&
		wait_gone "$j"
}

echo "populate of $N keys (python3 make), median of $R; machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
measure "baseline: sbatch --wrap true (empty job)" empty_job
measure "baseline: djrun populate, no Slurm" direct
measure "djrun submit (1 process)" via_slurm
measure "djrun submit --ntasks 2 (srun --mpi=pmix)" via_slurm --ntasks 2
measure "djrun submit --ntasks 2 --launcher mpirun" via_slurm --ntasks 2 --launcher mpirun
measure "djrun submit --array 2 (reserve-jobs)" via_slurm --array 2
