#!/usr/bin/env bash
# A private Azure Blob server for tests: azurite 3.35.0, which verifies SharedKey (recipes.md §4).
# Usage: azurite.sh start DIR [PORT] | stop DIR
# `start` prints shell assignments (DJ_TEST_AZURE_*) for the caller to eval: the account, its
# key, the blob endpoint (path-style: http://127.0.0.1:PORT/ACCOUNT), a connection string saying
# the same, and a container that already exists. The package comes from
# tests/services/npm-install.sh (in ${DJ_NPM_DIR:-/opt/djrun-npm}).
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?directory}
npm_dir=${DJ_NPM_DIR:-/opt/djrun-npm}
account=djtest
container=djtest

# One SharedKey-signed request with an empty body (recipes.md §4): METHOD PATH-AFTER-ACCOUNT
# QUERY-LINES (the canonicalized "\nname:value" lines, sorted). Prints the HTTP status.
signed() {
	local method=$1 path=$2 qlines=$3 query=$4 d sts sig
	d=$(TZ=GMT LC_ALL=C date '+%a, %d %b %Y %H:%M:%S GMT')
	sts="$method\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:$d\nx-ms-version:2021-08-06\n/$account/$account$path$qlines"
	sig=$(printf "$sts" | openssl dgst -sha256 -mac HMAC \
		-macopt "hexkey:$(printf %s "$key" | base64 -d | od -An -tx1 -v | tr -d ' \n')" -binary |
		base64 -w0)
	curl -s -o /dev/null -w '%{http_code}' -X "$method" -H "Content-Length:" -H "Content-Type:" \
		-H "x-ms-date: $d" -H "x-ms-version: 2021-08-06" \
		-H "Authorization: SharedKey $account:$sig" "http://127.0.0.1:$port/$account$path?$query"
}

case $cmd in
start)
	port=${3:-10010}
	bin=$npm_dir/node_modules/.bin/azurite-blob
	[ -x "$bin" ] || {
		echo "azurite: not installed in $npm_dir; run tests/services/npm-install.sh azurite" >&2; exit 1; }
	while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
	rm -rf "$dir"; mkdir -p "$dir/ws"; dir=$(cd "$dir" && pwd)
	# a fresh key per run (AZURITE_ACCOUNTS replaces the well-known devstoreaccount1)
	key=$(head -c 64 /dev/urandom | base64 -w0)
	# --skipApiVersionCheck: 3.35.0 refuses x-ms-version values newer than it knows;
	# --disableProductStyleUrl: the account is always the first path segment (path-style)
	AZURITE_ACCOUNTS="$account:$key" \
		"$bin" --blobHost 127.0.0.1 --blobPort "$port" --location "$dir/ws" --silent \
		--disableTelemetry --skipApiVersionCheck --disableProductStyleUrl \
		>"$dir/server.log" 2>&1 </dev/null &
	echo $! >"$dir/azurite.pid"
	for _ in $(seq 1 100); do
		curl -s -o /dev/null "http://127.0.0.1:$port/" && break
		sleep 0.1
	done
	curl -s -o /dev/null "http://127.0.0.1:$port/" || {
		echo "azurite did not start; see $dir/server.log" >&2; tail -20 "$dir/server.log" >&2; exit 1; }
	status=$(signed PUT "/$container" "\nrestype:container" "restype=container")
	[ "$status" = 201 ] || [ "$status" = 409 ] || {
		echo "azurite: creating container '$container' answered HTTP $status" >&2; exit 1; }
	endpoint=http://127.0.0.1:$port/$account
	echo "DJ_TEST_AZURE_ACCOUNT=$account DJ_TEST_AZURE_KEY=$key DJ_TEST_AZURE_ENDPOINT=$endpoint" \
	     "DJ_TEST_AZURE_CONTAINER=$container" \
	     "DJ_TEST_AZURE_CONNECTION_STRING='DefaultEndpointsProtocol=http;AccountName=$account;AccountKey=$key;BlobEndpoint=$endpoint;'"
	;;
stop)
	[ -f "$dir/azurite.pid" ] || exit 0
	pid=$(cat "$dir/azurite.pid")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$dir/azurite.pid"
	;;
*) echo "usage: $0 start DIR [PORT] | stop DIR" >&2; exit 2 ;;
esac
