#!/usr/bin/env bash
# djrun store, the built binary, on a file store and (when their DJ_TEST_* variables are set)
# on the s3, azure and gcs test servers: put from a file and from stdin (small, and streamed in
# parts), get whole, to a file and by range, ls, stat, rm, --if-absent; du on the fixture
# pipeline's store compared with find(1); usage and configuration errors exit 2, a store that is
# missing or refuses the credentials exits 3, a missing key exits 1.
set -uo pipefail
: "${DJRUN:?}" "${DJ_SHARED_DIR:?}"
tmp=$(mktemp -d)
. "$(dirname "$0")/../lib/checks.sh"
loc=djt_$$_cli # the cloud stores' location: this run's own prefix
cfg=$tmp/datajoint.json
ds() { "$DJRUN" store "$@" --config "$cfg"; }
cleanup() {
	for s in s3 az g; do
		grep -q "\"$s\"" "$cfg" 2>/dev/null || continue
		ds ls "$s" 2>/dev/null | tr '\n' '\0' | xargs -0 -r -n 500 "$DJRUN" store rm "$s" --config "$cfg"
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp" || exit 1
mkdir -p file fixture
tar xzf "$DJ_SHARED_DIR/fixtures/pipeline/store-main.tar.gz" -C fixture
head -c 20000000 /dev/urandom >big.bin # over one 8 MiB part: put from stdin streams parts
printf 'hello world' >small.txt

python3 - "$cfg" "$tmp" "$loc" <<'PY'
import json, os, sys
cfg, tmp, loc = sys.argv[1:]
e = os.environ
stores = {"default": "f", "f": {"protocol": "file", "location": f"{tmp}/file"},
          "fx": {"protocol": "file", "location": f"{tmp}/fixture"},
          "gone": {"protocol": "file", "location": f"{tmp}/no-such-dir"}}
if e.get("DJ_TEST_S3_ENDPOINT"):
    s3 = {"protocol": "s3", "endpoint": e["DJ_TEST_S3_ENDPOINT"], "bucket": e["DJ_TEST_S3_BUCKET"],
          "location": loc, "access_key": e["DJ_TEST_S3_ACCESS_KEY"],
          "secret_key": e["DJ_TEST_S3_SECRET_KEY"], "secure": False}
    stores["s3"] = s3
    stores["s3bad"] = dict(s3, secret_key="not-the-secret")
    stores["s3down"] = dict(s3, endpoint="http://127.0.0.1:9")  # discard port: refused
if e.get("DJ_TEST_AZURE_CONNECTION_STRING"):
    cs = e["DJ_TEST_AZURE_CONNECTION_STRING"]
    az = {"protocol": "azure", "container": e["DJ_TEST_AZURE_CONTAINER"], "location": loc,
          "connection_string": cs}
    stores["az"] = az
    key = e["DJ_TEST_AZURE_KEY"]
    stores["azbad"] = dict(az, connection_string=cs.replace(key, "d3Jvbmcta2V5LWZvci1kanJ1bi10ZXN0cw=="))
if e.get("DJ_TEST_GCS_ENDPOINT"):  # the endpoint comes from STORAGE_EMULATOR_HOST
    g = {"protocol": "gcs", "bucket": e["DJ_TEST_GCS_BUCKET"], "location": loc,
         "token": e["DJ_TEST_GCS_KEYFILE"]}
    stores["g"] = g
    stores["gbad"] = dict(g, token=e["DJ_TEST_GCS_WRONG_KEYFILE"])
    stores["gnokey"] = dict(g, token=f"{tmp}/no-such-key.json")
    stores["ganon"] = dict(g, token="anon")
    stores["gdefault"] = {k: v for k, v in g.items() if k != "token"}
    stores["gcloud"] = dict(g, token="cloud")
json.dump({"stores": stores}, open(cfg, "w"))
PY

# --- usage and configuration ---------------------------------------------------------------
"$DJRUN" store 2>err >/dev/null; rc=$?
check "no arguments exits 2" '[ $rc -eq 2 ] && grep -q "djrun store --help" err'
ds frob f 2>err >/dev/null; rc=$?
check "unknown command exits 2" '[ $rc -eq 2 ] && grep -q "unknown store command" err'
ds ls f --forse 2>err >/dev/null; rc=$?
check "unknown option exits 2" '[ $rc -eq 2 ] && grep -q "unknown option" err'
ds get f 2>err >/dev/null; rc=$?
check "get without a key exits 2" '[ $rc -eq 2 ] && grep -q "djrun store get STORE KEY" err'
"$DJRUN" store --help | grep -q "usage: djrun store ls"; rc=$?
check "--help" '[ $rc -eq 0 ]'
"$DJRUN" --help | grep -q "^  store "; rc=$?
check "listed in djrun --help" '[ $rc -eq 0 ]'
ds ls nope 2>err >/dev/null; rc=$?
check "unknown store exits 2" '[ $rc -eq 2 ] && grep -q "nope" err'
ds ls gone 2>err >out; rc=$?
check "missing file location exits 3" '[ $rc -eq 3 ] && grep -q "not an existing directory" err && [ ! -s out ]'
ds get f ../x 2>err >/dev/null; rc=$?
check "invalid key exits 2" '[ $rc -eq 2 ] && grep -q "invalid key" err'
ds get f k --range 5 2>err >/dev/null; rc=$?
check "bad --range exits 2" '[ $rc -eq 2 ] && grep -q "OFF:LEN" err'

# --- every backend: the same checks --------------------------------------------------------
store_checks() { # STORE
	local s=$1
	ds put "$s" "t/small.txt" small.txt; rc=$?
	check "$s: put FILE" '[ $rc -eq 0 ]'
	ds put "$s" "t/sp ace/big.bin" <big.bin; rc=$?
	check "$s: put from stdin in parts" '[ $rc -eq 0 ]'
	printf 'tiny' | ds put "$s" t/tiny -; rc=$?
	check "$s: put - (small stdin)" '[ $rc -eq 0 ]'
	ds get "$s" "t/sp ace/big.bin" >got.bin; rc=$?
	check "$s: get to stdout" '[ $rc -eq 0 ] && cmp -s got.bin big.bin'
	rm -f got.bin
	ds get "$s" t/small.txt -o got.txt; rc=$?
	check "$s: get -o FILE" '[ $rc -eq 0 ] && [ "$(cat got.txt)" = "hello world" ]'
	check "$s: get --range 6:3" '[ "$(ds get "$s" t/small.txt --range 6:3)" = "wor" ]'
	check "$s: get --range 6:" '[ "$(ds get "$s" t/small.txt --range 6:)" = "world" ]'
	check "$s: get --range past the end" '[ -z "$(ds get "$s" t/small.txt --range 99:2)" ]'
	ds get "$s" "t/sp ace/big.bin" --range 8388600:20 >part.bin; rc=$?
	check "$s: get --range across a part" '[ $rc -eq 0 ] && cmp -s part.bin <(tail -c +8388601 big.bin | head -c 20)'
	ds ls "$s" t/ >ls.txt; rc=$?
	check "$s: ls" '[ $rc -eq 0 ] && [ "$(sort ls.txt | tr "\n" "|")" = "t/small.txt|t/sp ace/big.bin|t/tiny|" ]'
	ds ls "$s" t/s --long >ls.txt; rc=$?
	check "$s: ls --long" '[ $rc -eq 0 ] && grep -Pq "^11\t20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ\tt/small.txt$" ls.txt &&
		grep -Pq "^20000000\t.*\tt/sp ace/big.bin$" ls.txt'
	ds stat "$s" t/small.txt >st.txt; rc=$?
	check "$s: stat object" '[ $rc -eq 0 ] && grep -qx "kind: object" st.txt && grep -qx "size: 11" st.txt'
	ds stat "$s" "t/sp ace" >st.txt; rc=$?
	check "$s: stat folder" '[ $rc -eq 0 ] && grep -qx "kind: folder" st.txt'
	ds stat "$s" t/none 2>err >st.txt; rc=$?
	check "$s: stat missing exits 1" '[ $rc -eq 1 ] && grep -q "not found" err && [ ! -s st.txt ]'
	ds get "$s" t/none 2>err >out; rc=$?
	check "$s: get missing exits 1" '[ $rc -eq 1 ] && grep -q "t/none.*not found" err && [ ! -s out ]'
	printf 'other' | ds put "$s" t/small.txt --if-absent 2>err; rc=$?
	check "$s: put --if-absent on a key that exists exits 1" '[ $rc -eq 1 ] && grep -q "already exists" err &&
		[ "$(ds get "$s" t/small.txt)" = "hello world" ]'
	ds rm "$s" t/small.txt t/tiny t/never-written; rc=$?
	check "$s: rm" '[ $rc -eq 0 ] && [ "$(ds ls "$s" t/)" = "t/sp ace/big.bin" ]'
	ds rm "$s" "t/sp ace/big.bin"; rc=$?
	check "$s: rm the rest" '[ $rc -eq 0 ] && [ -z "$(ds ls "$s" t/)" ]'
}

# du against what find(1) counts in the unpacked fixture store
du_checks() { # STORE
	local s=$1 want
	ds du "$s" >du.txt 2>err; rc=$?
	want=$(cd fixture && find . -type f -printf '%s\n' | awk '{b+=$1} END {printf "%d\t%d", b, NR}')
	check "$s: du total" '[ $rc -eq 0 ] && grep -qP "^$want\ttotal\t-\t-$" du.txt'
	want=$(cd fixture && find _hash/fx_ephys -type f -printf '%s\n' | awk '{b+=$1} END {printf "%d\t%d", b, NR}')
	check "$s: du hash fx_ephys" 'grep -qP "^$want\thash\tfx_ephys\t-$" du.txt'
	want=$(cd fixture && find _schema/fx_ephys/_recording -type f -printf '%s\n' | awk '{b+=$1} END {printf "%d\t%d", b, NR}')
	check "$s: du schema fx_ephys _recording" 'grep -qP "^$want\tschema\tfx_ephys\t_recording$" du.txt'
	want=$(cd fixture && find . -type f -not -path "./_hash/*" -not -path "./_schema/*" -printf '%s\n' |
		awk '{b+=$1} END {printf "%d\t%d", b, NR}')
	check "$s: du filepath" 'grep -qP "^$want\tfilepath\t-\t-$" du.txt'
	ds du "$s" fx_ephys --parallel 2 >du1.txt; rc=$?
	want=$(cd fixture && find _hash/fx_ephys _schema/fx_ephys -type f -printf '%s\n' | awk '{b+=$1} END {printf "%d\t%d", b, NR}')
	check "$s: du SCHEMA" '[ $rc -eq 0 ] && grep -qP "^$want\ttotal\tfx_ephys\t-$" du1.txt && ! grep -q filepath du1.txt'
	check "$s: du nothing" '[ "$(ds du "$s" no_such_schema)" = "$(printf "0\t0\ttotal\tno_such_schema\t-")" ]'
}

upload_fixture() { # STORE
	(cd fixture && find . -type f | sed 's|^\./||' | while IFS= read -r k; do
		ds put "$1" "$k" "$k" || echo "FAIL: upload $k" >&2
	done)
}

store_checks f
check "f: put wrote through the location" '[ -d file/t ]'
du_checks fx

if need DJ_TEST_S3_ENDPOINT; then
	store_checks s3
	ds ls s3bad 2>err >out; rc=$?
	check "s3: wrong secret exits 3" '[ $rc -eq 3 ] && grep -q "authentication failed" err && ! grep -q not-the-secret err'
	ds stat s3down x 2>err >/dev/null; rc=$?
	check "s3: unreachable endpoint exits 3" '[ $rc -eq 3 ]'
	# du on s3rver: its delimiter listing misses folders without an object directly in them
	# (tests/integration/test_store_suite.c, list_dir), so only the real servers are checked
fi

if need DJ_TEST_AZURE_CONNECTION_STRING; then
	store_checks az
	ds ls azbad 2>err >out; rc=$?
	check "azure: wrong key exits 3" '[ $rc -eq 3 ] && grep -q "authentication failed" err && ! grep -q "d3Jvbmct" err'
	upload_fixture az
	du_checks az
fi

if need DJ_TEST_GCS_ENDPOINT; then
	export STORAGE_EMULATOR_HOST=${DJ_TEST_GCS_ENDPOINT#http://}
	store_checks g
	ds ls gbad 2>err >out; rc=$?
	check "gcs: a key the token server refuses exits 3" '[ $rc -eq 3 ] &&
		grep -q "authentication failed: invalid_grant" err && ! grep -q "PRIVATE KEY" err'
	ds ls gnokey 2>err >out; rc=$?
	check "gcs: a missing key file exits 3" '[ $rc -eq 3 ] && grep -q "key file .* not found" err'
	ds ls ganon 2>err >out; rc=$?
	check "gcs: anonymous on a private bucket exits 3" '[ $rc -eq 3 ] && grep -q "Invalid Credentials" err'
	printf 'adc' >adc.txt
	GOOGLE_APPLICATION_CREDENTIALS=$DJ_TEST_GCS_KEYFILE ds put gdefault t/adc adc.txt; rc=$?
	check "gcs: token unset takes GOOGLE_APPLICATION_CREDENTIALS" '[ $rc -eq 0 ]'
	GCE_METADATA_HOST=$DJ_TEST_GCS_METADATA_HOST ds get gcloud t/adc >out; rc=$?
	check "gcs: token cloud asks GCE_METADATA_HOST" '[ $rc -eq 0 ] && [ "$(cat out)" = adc ]'
	GCE_METADATA_HOST=127.0.0.1:9 ds ls gcloud 2>err >out; rc=$?
	check "gcs: token cloud without a metadata server exits 3" '[ $rc -eq 3 ] && grep -q "metadata server" err'
	ds rm g t/adc
	GOOGLE_APPLICATION_CREDENTIALS=$DJ_TEST_GCS_KEYFILE "$DJRUN" config --config "$cfg" >conf.txt; rc=$?
	check "gcs: djrun config names the endpoint and where tokens come from" '[ $rc -eq 0 ] &&
		grep -qx "stores.g.endpoint = $STORAGE_EMULATOR_HOST" conf.txt &&
		grep -qx "stores.g.credentials = key file $DJ_TEST_GCS_KEYFILE" conf.txt &&
		grep -qx "stores.ganon.credentials = anonymous" conf.txt &&
		grep -q "^stores.gdefault.credentials = key file $DJ_TEST_GCS_KEYFILE (GOOGLE_APPLICATION" conf.txt &&
		grep -qx "stores.gcloud.credentials = metadata server metadata.google.internal" conf.txt'
	upload_fixture g
	du_checks g
	unset STORAGE_EMULATOR_HOST
fi

echo "store checks: $passes passed, $fails failed"
[ $fails -eq 0 ]
