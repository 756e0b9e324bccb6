#!/usr/bin/env bash
# A private Google Cloud Storage server for tests: the Cloud Storage emulator of firebase-tools
# 15.34.2 (its GCS JSON API), launched by tests/services/gcs-server.js, which also serves OAuth2
# tokens and adds what the emulator lacks (bearer tokens required, ifGenerationMatch, compose:
# see that file; it is test scaffolding, not Google code).
# Usage: gcs.sh start DIR [PORT] | stop DIR
# `start` prints shell assignments (DJ_TEST_GCS_*) for the caller to eval: the endpoint (also the
# token and metadata server), a bucket that needs tokens and one that does not, and credential
# files made for this run: a service account whose fresh RSA key the server verifies JWTs with,
# the same account with another key (refused), and an authorized_user. The package comes from
# tests/services/npm-install.sh (in ${DJ_NPM_DIR:-/opt/djrun-npm}).
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?directory}
npm_dir=${DJ_NPM_DIR:-/opt/djrun-npm}
here=$(cd "$(dirname "$0")" && pwd)
bucket=djtest
public=djpublic
email=djrun-test@demo-djrun.iam.gserviceaccount.com

# A credentials JSON file from NAME=VALUE pairs (values may hold newlines: PEM keys).
json_file() {
	node -e 'const o = {}; for (const a of process.argv.slice(1)) { const i = a.indexOf("=");
		o[a.slice(0, i)] = a.slice(i + 1); }
		require("fs").writeFileSync(process.env.OUT, JSON.stringify(o, null, 2), { mode: 0o600 });' \
		-- "$@" </dev/null
}

case $cmd in
start)
	port=${3:-19199}
	[ -f "$npm_dir/node_modules/firebase-tools/lib/emulator/storage/index.js" ] || {
		echo "gcs: not installed in $npm_dir; run tests/services/npm-install.sh gcs" >&2; exit 1; }
	while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
	rm -rf "$dir"; mkdir -p "$dir/tmp"; dir=$(cd "$dir" && pwd)
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/key.pem" 2>/dev/null
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/wrong.pem" 2>/dev/null
	openssl pkey -in "$dir/key.pem" -pubout -out "$dir/pub.pem"
	token_uri=http://127.0.0.1:$port/token
	rnd() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
	client_secret=$(rnd) refresh=$(rnd)
	OUT=$dir/service-account.json json_file type=service_account project_id=demo-djrun \
		private_key_id=djtest-key "private_key=$(cat "$dir/key.pem")" client_email=$email \
		client_id=1 token_uri="$token_uri"
	OUT=$dir/wrong-key.json json_file type=service_account project_id=demo-djrun \
		private_key_id=djtest-key "private_key=$(cat "$dir/wrong.pem")" client_email=$email \
		client_id=1 token_uri="$token_uri"
	OUT=$dir/authorized-user.json json_file type=authorized_user client_id=djtest-client \
		client_secret="$client_secret" refresh_token="$refresh" token_uri="$token_uri"
	rm -f "$dir/key.pem" "$dir/wrong.pem"
	# TMPDIR: the emulator keeps its object bytes in $TMPDIR/firebase/storage/blobs
	TMPDIR=$dir/tmp NODE_PATH="$npm_dir/node_modules" GCS_PUBKEY=$dir/pub.pem \
	GCS_CLIENT_EMAIL=$email GCS_TOKEN_URI=$token_uri GCS_PUBLIC_BUCKET=$public \
	GCS_REFRESH="djtest-client:$client_secret:$refresh" \
		node "$here/gcs-server.js" 127.0.0.1 "$port" >"$dir/server.log" 2>&1 </dev/null &
	echo $! >"$dir/gcs.pid"
	for _ in $(seq 1 150); do
		curl -s -o /dev/null "http://127.0.0.1:$port/storage/v1/b/$public/o" && break
		sleep 0.1
	done
	curl -sf -o /dev/null "http://127.0.0.1:$port/storage/v1/b/$public/o" || {
		echo "gcs emulator did not start; see $dir/server.log" >&2; tail -20 "$dir/server.log" >&2; exit 1; }
	echo "DJ_TEST_GCS_ENDPOINT=http://127.0.0.1:$port DJ_TEST_GCS_BUCKET=$bucket" \
	     "DJ_TEST_GCS_PUBLIC_BUCKET=$public DJ_TEST_GCS_KEYFILE=$dir/service-account.json" \
	     "DJ_TEST_GCS_WRONG_KEYFILE=$dir/wrong-key.json DJ_TEST_GCS_USERFILE=$dir/authorized-user.json" \
	     "DJ_TEST_GCS_METADATA_HOST=127.0.0.1:$port"
	;;
stop)
	[ -f "$dir/gcs.pid" ] || exit 0
	pid=$(cat "$dir/gcs.pid")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$dir/gcs.pid"
	;;
*) echo "usage: $0 start DIR [PORT] | stop DIR" >&2; exit 2 ;;
esac
