#!/usr/bin/env bash
# A private S3 server for tests: @20minutes/s3rver 4.0.4, which verifies SigV4 (recipes.md §3).
# Usage: s3rver.sh start DIR [PORT] | stop DIR
# `start` prints shell assignments (DJ_TEST_S3_*) for the caller to eval. The package comes from
# tests/services/npm-install.sh (in ${DJ_NPM_DIR:-/opt/djrun-npm}).
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?directory}
npm_dir=${DJ_NPM_DIR:-/opt/djrun-npm}
bucket=djtest
access_key=djtest-key

case $cmd in
start)
	port=${3:-14569}
	[ -f "$npm_dir/node_modules/@20minutes/s3rver/lib/cli.js" ] || {
		echo "s3rver: not installed in $npm_dir; run tests/services/npm-install.sh s3rver" >&2; exit 1; }
	while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
	rm -rf "$dir"; mkdir -p "$dir/data"; dir=$(cd "$dir" && pwd)
	secret=djtest-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	# The package declares bin/s3rver.js but does not ship it: launch its CLI module directly,
	# registering our key pair first (the built-in pair is S3RVER/S3RVER).
	cat >"$dir/run-s3rver.js" <<-'EOF'
		const A = require('@20minutes/s3rver/lib/models/account');
		A.DUMMY_ACCOUNT.createKeyPair(process.env.S3_KEY, process.env.S3_SECRET);
		require('@20minutes/s3rver/lib/cli.js').parseAsync(process.argv.slice(2), { from: 'user' });
	EOF
	# --openssl-legacy-provider: continuation tokens are DES-encrypted, and without the legacy
	# provider every truncated listing fails with 500 (recipes.md §3).
	S3_KEY=$access_key S3_SECRET=$secret NODE_PATH="$npm_dir/node_modules" \
	NODE_OPTIONS=--openssl-legacy-provider \
		node "$dir/run-s3rver.js" -d "$dir/data" -a 127.0.0.1 -p "$port" -s \
		--configure-bucket "$bucket" >"$dir/server.log" 2>&1 </dev/null &
	echo $! >"$dir/s3rver.pid"
	for _ in $(seq 1 100); do
		curl -s -o /dev/null "http://127.0.0.1:$port/" && break
		sleep 0.1
	done
	curl -s -o /dev/null "http://127.0.0.1:$port/" || {
		echo "s3rver did not start; see $dir/server.log" >&2; tail -20 "$dir/server.log" >&2; exit 1; }
	echo "DJ_TEST_S3_ENDPOINT=http://127.0.0.1:$port DJ_TEST_S3_ACCESS_KEY=$access_key" \
	     "DJ_TEST_S3_SECRET_KEY=$secret DJ_TEST_S3_BUCKET=$bucket"
	;;
stop)
	[ -f "$dir/s3rver.pid" ] || exit 0
	pid=$(cat "$dir/s3rver.pid")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$dir/s3rver.pid"
	;;
*) echo "usage: $0 start DIR [PORT] | stop DIR" >&2; exit 2 ;;
esac
