#!/usr/bin/env bash
# A private PostgreSQL 15 for tests (recipes.md §2): runs as the postgres user in a directory it
# can enter, loopback port, UTC. Usage: postgres.sh start DIR [PORT] | stop DIR
# `start` prints shell assignments (DJ_TEST_PG_*) for the caller to eval.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?directory}
B=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case $cmd in
start)
	port=${3:-15432}
	while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
	rm -rf "$dir"; mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
	# every parent must be traversable by postgres
	p=$dir; while [ "$p" != / ]; do chmod o+x "$p" 2>/dev/null || true; p=$(dirname "$p"); done
	[ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
	cd "$dir"
	as_pg "$B/initdb" -D "$dir/data" -U postgres --auth=trust --auth-host=scram-sha-256 \
		-E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1
	as_pg "$B/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
		-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c timezone=UTC" start >/dev/null
	as_pg "$B/psql" -h "$dir" -p "$port" -U postgres -q -v ON_ERROR_STOP=1 \
		-c "CREATE ROLE djtest LOGIN SUPERUSER PASSWORD 'djtest-pass'" \
		-c "CREATE DATABASE djtest OWNER djtest" >/dev/null
	echo "DJ_TEST_PG_HOST=127.0.0.1 DJ_TEST_PG_PORT=$port DJ_TEST_PG_USER=djtest" \
	     "DJ_TEST_PG_PASS=djtest-pass DJ_TEST_PG_DB=djtest DJ_TEST_PG_SOCKET_DIR=$dir"
	;;
stop)
	[ -f "$dir/data/postmaster.pid" ] || exit 0
	pid=$(head -1 "$dir/data/postmaster.pid")
	as_pg "$B/pg_ctl" -D "$dir/data" -m fast -w -t 20 stop >/dev/null 2>&1 || kill -9 "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	;;
*) echo "usage: $0 start DIR [PORT] | stop DIR" >&2; exit 2 ;;
esac
