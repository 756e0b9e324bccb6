#!/usr/bin/env bash
# A private MariaDB for tests: temp datadir, loopback port, utf8mb4, max_allowed_packet 256M
# (recipes.md §1). Usage: mariadb.sh start DIR [PORT] | stop DIR
# `start` prints shell assignments (DJ_TEST_MYSQL_*) for the caller to eval.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?directory}

case $cmd in
start)
	port=${3:-13306}
	# Another server (or a stale run) may hold the port: take the next free one.
	while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
	rm -rf "$dir"; mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
	mariadb-install-db --no-defaults --datadir="$dir/data" --user=root \
		--auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1
	mariadbd --no-defaults --user=root --datadir="$dir/data" --port="$port" \
		--bind-address=127.0.0.1 --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" \
		--log-error="$dir/error.log" --skip-name-resolve --character-set-server=utf8mb4 \
		--collation-server=utf8mb4_unicode_ci --max-allowed-packet=256M \
		--innodb-buffer-pool-size=64M --default-time-zone=+00:00 >/dev/null 2>&1 &
	echo $! >"$dir/launcher.pid"
	for _ in $(seq 1 300); do
		mariadb-admin --no-defaults --socket="$dir/mysqld.sock" -uroot ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	mariadb-admin --no-defaults --socket="$dir/mysqld.sock" -uroot ping >/dev/null 2>&1 || {
		echo "mariadb did not start; see $dir/error.log" >&2; tail -20 "$dir/error.log" >&2; exit 1; }
	# The test user may create any database: every test makes its own djt_* schema.
	mariadb --no-defaults --socket="$dir/mysqld.sock" -uroot -e "
		CREATE USER 'djtest'@'%' IDENTIFIED BY 'djtest-pass';
		GRANT ALL ON *.* TO 'djtest'@'%' WITH GRANT OPTION;"
	echo "DJ_TEST_MYSQL_HOST=127.0.0.1 DJ_TEST_MYSQL_PORT=$port DJ_TEST_MYSQL_USER=djtest" \
	     "DJ_TEST_MYSQL_PASS=djtest-pass DJ_TEST_MYSQL_SOCKET=$dir/mysqld.sock"
	;;
stop)
	[ -f "$dir/mysqld.pid" ] || exit 0
	pid=$(cat "$dir/mysqld.pid")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$dir/mysqld.pid"
	;;
*) echo "usage: $0 start DIR [PORT] | stop DIR" >&2; exit 2 ;;
esac
