#!/usr/bin/env bash
# A private single-node Slurm for tests: munged, slurmctld and slurmd in DIR, on free loopback
# ports, no accounting, no cgroups, pmix as the default MPI (recipes.md §5).
# Usage: slurm.sh start DIR | stop DIR
# `start` prints shell assignments (SLURM_CONF, DJ_TEST_SLURM, DJ_TEST_SLURM_PARTITION) for the
# caller to eval; every Slurm command and both daemons find the cluster through SLURM_CONF.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?directory}

free_port() { # free_port FROM: the first port >= FROM nobody listens on
	local p=$1
	while (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; do p=$((p + 1)); done
	echo "$p"
}
# wait_gone PID: until the process has exited (at most 10 s, then SIGKILL); no PID: nothing
wait_gone() {
	[ -n "$1" ] || return 0
	for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$1" 2>/dev/null || true
}

case $cmd in
start)
	for t in munged mungekey slurmctld slurmd sbatch; do
		command -v "$t" >/dev/null || { echo "slurm.sh: $t not installed (scripts/setup)" >&2; exit 1; }
	done
	rm -rf "$dir"; mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
	mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
	# munged insists that everyone (user, group, other) can traverse the directories down to its socket
	chmod 755 "$dir" "$dir/munge"
	# (a mktemp -d parent is 0700; -x would say yes for root, so test the mode bits)
	d=$dir
	while [ "$d" != / ]; do
		d=$(dirname "$d")
		[ -n "$(find "$d" -maxdepth 0 ! -perm -111)" ] && chmod a+x "$d"
	done
	mungekey --create --keyfile="$dir/munge/munge.key"
	munged --socket="$dir/munge/munge.sock" --key-file="$dir/munge/munge.key" \
		--pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
		--seed-file="$dir/munge/munged.seed" # daemonises
	ctld=$(free_port 16817)
	slurmd_port=$(free_port $((ctld + 1)))
	cpus=$(nproc)
	cat >"$dir/slurm.conf" <<EOF
ClusterName=djtest
SlurmctldHost=localhost
SlurmctldPort=$ctld
SlurmdPort=$slurmd_port
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
SchedulerParameters=sched_min_interval=0,batch_sched_delay=0
ReturnToService=2
MinJobAge=300
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
	export SLURM_CONF=$dir/slurm.conf
	slurmctld -i # daemonises; -i ignores old state
	slurmd -N localhost # the host name differs from NodeName
	for _ in $(seq 1 150); do
		[ "$(sinfo -h -o %t 2>/dev/null)" = idle ] && break
		sleep 0.2
	done
	[ "$(sinfo -h -o %t 2>/dev/null)" = idle ] || {
		echo "slurm did not come up; see $dir/log" >&2
		tail -20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
		exit 1
	}
	echo "SLURM_CONF=$dir/slurm.conf DJ_TEST_SLURM=1 DJ_TEST_SLURM_PARTITION=debug" \
	     "DJ_TEST_SLURM_CPUS=$cpus"
	;;
stop)
	[ -d "$dir" ] || exit 0
	# the daemons remove their pid files as they exit: read them first
	ctld=$(cat "$dir/slurmctld.pid" 2>/dev/null || true)
	slurmd_pid=$(cat "$dir/slurmd.pid" 2>/dev/null || true)
	munged_pid=$(cat "$dir/munge/munged.pid" 2>/dev/null || true)
	if [ -n "$ctld" ] && [ -f "$dir/slurm.conf" ]; then
		SLURM_CONF=$dir/slurm.conf scontrol shutdown >/dev/null 2>&1 || kill "$ctld" 2>/dev/null || true
	fi
	wait_gone "$ctld"
	# slurmd stops with slurmctld's shutdown; if slurmctld was gone already, stop it directly
	[ -z "$slurmd_pid" ] || kill "$slurmd_pid" 2>/dev/null || true
	wait_gone "$slurmd_pid"
	[ -z "$munged_pid" ] || kill "$munged_pid" 2>/dev/null || true
	wait_gone "$munged_pid"
	rm -f "$dir/slurmctld.pid" "$dir/slurmd.pid" "$dir/munge/munged.pid"
	;;
*) echo "usage: $0 start DIR | stop DIR" >&2; exit 2 ;;
esac
