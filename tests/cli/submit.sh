#!/usr/bin/env bash
# djrun submit without a cluster: the script a dry run prints, line by line, for a multi-node
# request; arguments with spaces, quotes, $, newlines and globs reach djrun unchanged through
# the script (run by bash); array mode adds --reserve-jobs; djrun.json defaults and the command
# line's precedence; usage errors (exit 2, nothing written); a missing sbatch (exit 2).
set -uo pipefail
: "${DJRUN:?}"
. "$(dirname "$0")/../lib/checks.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/work/sub"
cd "$tmp/work/sub" || exit 1
djrun=$(readlink -f "$DJRUN")
work=$tmp/work/sub

# --- a multi-node request, line by line ----------------------------------------------------------
"$DJRUN" submit --dry-run --nodes 2 --ntasks-per-node 4 --cpus-per-task 2 --time 02:00:00 \
	--partition compute --account=lab --mem 8G --qos long --signal B:USR1@300 --requeue \
	--max-requeue 3 --log-dir logs -- populate lab.Spikes --make './make spikes.py' >multi.sh 2>err
check "multi-node dry run: exit 0" "[ $? -eq 0 ] || { cat err >&2; false; }"
cat >expected.sh <<EOF
#!/bin/bash
# Written by djrun submit (djrun $("$DJRUN" --version | cut -d' ' -f2)). Submit it again with: sbatch THIS_FILE
#SBATCH --job-name=djrun-populate-lab.Spikes
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=02:00:00
#SBATCH --partition=compute
#SBATCH --account=lab
#SBATCH --qos=long
#SBATCH --output=$work/logs/djrun-populate-lab.Spikes-%j.log
#SBATCH --open-mode=append
#SBATCH --signal=B:USR1@300
#SBATCH --requeue

set -u
cd $work || exit 2
echo "djrun submit: job \$SLURM_JOB_ID\${SLURM_ARRAY_TASK_ID:+ (array task \$SLURM_ARRAY_TASK_ID)}, restart \${SLURM_RESTART_COUNT:-0}, on \$(hostname) at \$(date -u +%Y-%m-%dT%H:%M:%SZ)"

# Slurm's warning signal (--signal=B:...) and \`scancel --batch\` reach this shell only: pass
# them on to djrun as SIGUSR1, on which it finishes and commits the running keys, releases
# the others and exits 75.
relayed=0 djrun_pid=
relay() { relayed=1; [ -z "\$djrun_pid" ] || kill -USR1 "\$djrun_pid" 2>/dev/null; }
trap relay USR1 TERM INT

srun --mpi=pmix --cpus-per-task=2 $djrun populate lab.Spikes --make './make spikes.py' &
djrun_pid=\$!
[ "\$relayed" = 0 ] || kill -USR1 "\$djrun_pid" 2>/dev/null
wait "\$djrun_pid"; rc=\$?
# a relayed signal interrupts wait: wait again for djrun's own exit status
while [ "\$relayed" = 1 ]; do relayed=0; wait "\$djrun_pid"; rc=\$?; done
echo "djrun submit: djrun exited with status \$rc at \$(date -u +%Y-%m-%dT%H:%M:%SZ)"
# drained (time limit, preemption): requeue, and the job resumes where it stopped
if [ "\$rc" = 75 ] && [ "\${SLURM_RESTART_COUNT:-0}" -lt 3 ]; then
	echo "djrun submit: requeueing job \$SLURM_JOB_ID"
	scontrol requeue "\$SLURM_JOB_ID"
fi
exit "\$rc"
EOF
check "multi-node dry run: the script, line by line" \
	"diff expected.sh multi.sh >diff.txt || { cat diff.txt >&2; false; }"
check "multi-node dry run: bash parses it" "bash -n multi.sh"
check "dry run: nothing written (no log dir, no script)" "[ ! -e logs ]"

# --- quoting: every argument reaches djrun unchanged -----------------------------------------------
args=(populate 'lab.Spikes' --where "session_id = 3 AND name = 'it''s'" -- prog 'a b' "it's" \
	'$HOME' '"quoted"' '' $'two\nlines' '*' 'back\slash' '`date`' ';exit 9' 'tab	here')
"$DJRUN" submit --dry-run --launcher none -- "${args[@]}" >quote.sh 2>err
check "quoting: dry run exit 0" "[ $? -eq 0 ] || { cat err >&2; false; }"
# Run the script's djrun line with djrun replaced by a printer of its arguments.
printf '#!/bin/bash\nfor a in "$@"; do printf "%%s\\0" "$a"; done\n' >printargs
chmod +x printargs
sed "s|$djrun|$tmp/work/sub/printargs|" quote.sh | sed -n '/^relayed=0/,$p' |
	sed '/^echo "djrun submit/d' >run.sh
SLURM_JOB_ID=1 bash run.sh >got.bin 2>run.err
check "quoting: the script runs (exit 0)" "[ $? -eq 0 ] || { cat run.err >&2; false; }"
printf '%s\0' "${args[@]}" >want.bin
check "quoting: djrun gets exactly the arguments given" "cmp -s want.bin got.bin"

# --- arrays ---------------------------------------------------------------------------------------
"$DJRUN" submit --dry-run --array 3 -- populate lab.T --make ./m >a1.sh 2>err
check "--array 3: tasks 0-2, a log per task, one process, --reserve-jobs added" \
	"grep -qx '#SBATCH --array=0-2' a1.sh && grep -q '^#SBATCH --output=.*-%A_%a.log$' a1.sh &&
	 grep -q '^$djrun populate --reserve-jobs lab.T --make ./m &$' a1.sh"
"$DJRUN" submit --dry-run --array 0-9%2 --ntasks 2 --launcher mpirun -- populate lab.T \
	--no-reserve-jobs --make ./m >a2.sh 2>err
check "--array 0-9%2 with mpirun: kept as given, the user's --no-reserve-jobs kept" \
	"grep -qx '#SBATCH --array=0-9%2' a2.sh && grep -q '^mpirun $djrun populate lab.T --no-reserve-jobs --make ./m &$' a2.sh"
"$DJRUN" submit --dry-run --signal none -- gc lab >g.sh 2>err
check "--signal none: no --signal line; gc runs as one process" \
	"! grep -q '^#SBATCH --signal' g.sh && grep -q '^$djrun gc lab &$' g.sh && ! grep -q requeue g.sh"

# --- djrun.json defaults, the command line wins ----------------------------------------------------
cat >"$tmp/work/djrun.json" <<'EOF'
{"submit": {"partition": "short", "time": "30", "ntasks": 3, "launcher": "mpirun",
            "requeue": true, "log-dir": "joblogs", "sbatch": ["--constraint=avx2"],
            "setup": ["source /opt/env/bin/activate"]}}
EOF
"$DJRUN" submit --dry-run --time 45 -- populate lab.T --make ./m >c1.sh 2>err
check "djrun.json: defaults applied, found from a parent directory" \
	"grep -qx '#SBATCH --partition=short' c1.sh && grep -qx '#SBATCH --ntasks=3' c1.sh &&
	 grep -qx '#SBATCH --requeue' c1.sh && grep -qx '#SBATCH --constraint=avx2' c1.sh &&
	 grep -qx 'source /opt/env/bin/activate' c1.sh && grep -q '^mpirun ' c1.sh &&
	 grep -q '^#SBATCH --output=$work/joblogs/' c1.sh || { cat err c1.sh >&2; false; }"
check "djrun.json: the command line wins (--time 45)" "grep -qx '#SBATCH --time=45' c1.sh"
"$DJRUN" submit --dry-run --no-requeue --launcher srun -- populate lab.T --make ./m >c2.sh 2>err
check "djrun.json: --no-requeue and --launcher override it" \
	"! grep -q requeue c2.sh && grep -q '^srun --mpi=pmix ' c2.sh"
echo '{"submit": {"nodes": "two"}}' >"$tmp/work/djrun.json"
"$DJRUN" submit --dry-run -- populate lab.T --make ./m >/dev/null 2>err
check "djrun.json: a wrong type is a configuration error (exit 2) naming the key" \
	"[ $? -eq 2 ] && grep -q 'submit.nodes must be an integer' err"
echo '{"submit": {"partitoin": "x"}}' >"$tmp/work/djrun.json"
"$DJRUN" submit --dry-run -- populate lab.T --make ./m >/dev/null 2>err
check "djrun.json: an unknown key is refused (exit 2)" "[ $? -eq 2 ] && grep -q \"unknown submit setting 'partitoin'\" err"
rm "$tmp/work/djrun.json"

# --- usage errors: exit 2, nothing written ----------------------------------------------------------
usage() { # NAME PATTERN ARGS...
	local name=$1 pat=$2
	shift 2
	"$DJRUN" submit "$@" >out 2>err
	local rc=$?
	check "usage: $name (exit 2, '$pat')" "[ $rc -eq 2 ] && grep -q -- \"$pat\" err && [ ! -s out ] || { cat err >&2; false; }"
}
usage "no command" "give the djrun command after --" --nodes 2
usage "unknown command" "populate, migrate or gc" -- describe lab
usage "bad array" "--array takes" --array 3-1 -- populate lab.T
usage "zero array" "--array takes" --array 0 -- populate lab.T
usage "array for gc" "--array is for populate" --array 3 -- gc lab
usage "bad time" "--time takes" --time 1h -- populate lab.T
usage "bad mem" "--mem takes" --mem lots -- populate lab.T
usage "bad count" "--nodes takes a whole number" --nodes 0 -- populate lab.T
usage "partition with a space" "--partition takes one word" --partition 'a b' -- populate lab.T
usage "bad launcher" "--launcher takes" --launcher ssh -- populate lab.T
usage "unknown option" "unknown option '--frobnicate'" --frobnicate 1 -- populate lab.T
usage "log dir with a space" "must not contain spaces" --log-dir "$tmp/a b" -- populate lab.T
"$DJRUN" submit --help | grep -q -- '--array N'
check "--help documents --array" "[ $? -eq 0 ]"
check "no file written by the failed submits" "[ -z \"\$(ls $work | grep -v -e '\.sh$' -e '\.bin$' -e '^err$' -e '^out$' -e '^printargs$' -e '^diff.txt$' -e '^run.err$')\" ]"

# --- sbatch missing: a clear error ------------------------------------------------------------------
PATH=/nonexistent "$DJRUN" submit --log-dir "$tmp/l" -- populate lab.T --make ./m >out 2>err
rc=$?
check "no sbatch: exit 2 with a clear message (got $rc)" "[ $rc -eq 2 ] && grep -q 'sbatch not found' err"
check "no sbatch: the script was written for later" "ls $tmp/l/djrun-populate-lab.T-*.sbatch >/dev/null"

echo "submit checks: $passes passed, $fails failed"
[ $fails -eq 0 ]
