#!/usr/bin/env bash
# djrun config: datajoint.json + .secrets/ + environment, secrets masked, exit codes.
# Needs $DJRUN (the built binary) and $DJ_TEST_TMP (scratch). Exits non-zero on any failure.
set -u

: "${DJRUN:?set DJRUN to the djrun binary}"
T="${DJ_TEST_TMP:-/tmp}/cli-config-$$"
SECRET_PW='hunter2-Pw-S3CRET'
SECRET_SK='sk-S3CRET-value'
failures=0

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# run DIR ARGS...: djrun config in DIR with a clean environment (plus $ENVS); sets rc, out, err
run() {
	local dir=$1
	shift
	(cd "$dir" && env -i PATH="$PATH" ${ENVS:-} "$DJRUN" config "$@" >"$T/out" 2>"$T/err")
	rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
}

expect_line() {
	grep -qxF -- "$1" <<<"$out" || fail "missing line '$1' in output of: $2"
}

no_secrets() {
	if grep -q 'S3CRET' "$T/out" "$T/err"; then
		fail "a secret was printed by: $1"
	fi
}

rm -rf "$T"
mkdir -p "$T/proj/.git" "$T/proj/.secrets" "$T/proj/store/main" "$T/proj/a/b" "$T/other"
cat >"$T/proj/datajoint.json" <<EOF
{
  "database": {"host": "db.example.org", "port": 3307},
  "database.user": "fileuser",
  "stores": {
    "default": "main",
    "main": {"protocol": "file", "location": "$T/proj/store/main"},
    "raw": {"protocol": "s3", "endpoint": "minio:9000", "bucket": "lab",
            "location": "acq", "access_key": "AKIDEXAMPLE"}
  },
  "stores.main.token_length": 10,
  "jobs": {"add_job_metadata": true}
}
EOF
printf '%s\n' "$SECRET_PW" >"$T/proj/.secrets/database.password"
printf '%s\n' "$SECRET_SK" >"$T/proj/.secrets/stores.raw.secret_key"
printf 'nobody\n' >"$T/proj/.secrets/database.user"

# 1. text output, searched upward from a subdirectory; env DJ_USER beats the file
ENVS="DJ_USER=alice" run "$T/proj/a/b"
[ "$rc" -eq 0 ] || fail "config exited $rc (stderr: $err)"
for line in "database.host = db.example.org" "database.port = 3307" "database.user = alice" \
	"database.password = ****" "database.backend = mysql" "stores.default = main" \
	"stores.main.token_length = 10" "stores.main.hash_prefix = _hash" \
	"stores.raw.secret_key = ****" "stores.raw.access_key = AKIDEXAMPLE" \
	"stores.raw.secure = true" "jobs.add_job_metadata = true" \
	"config_file = $T/proj/datajoint.json" "secrets_dir = $T/proj/.secrets"; do
	expect_line "$line" "djrun config"
done
[ -z "$err" ] || fail "unexpected stderr: $err"
no_secrets "djrun config"

# 2. --json parses and carries the same values
run "$T/proj" --json
[ "$rc" -eq 0 ] || fail "config --json exited $rc (stderr: $err)"
python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["database"]["host"] == "db.example.org", d["database"]
assert d["database"]["user"] == "fileuser", d["database"]["user"]
assert d["database"]["password"] == "****"
assert d["stores"]["raw"]["secret_key"] == "****"
assert d["stores"]["main"]["subfolding"] is None
assert d["database"]["use_tls"] is None
' <"$T/out" || fail "config --json: output did not parse or had wrong values"
no_secrets "djrun config --json"

# 3. --store: one store, the default for "", an unknown store is a config error
run "$T/proj" --json --store raw
python3 -c 'import json,sys; d=json.load(sys.stdin); assert list(d["stores"]) == ["raw"]' \
	<"$T/out" || fail "config --store raw: wrong output"
run "$T/proj" --store ""
expect_line "stores.main.protocol = file" "config --store ''"
run "$T/proj" --store nope
[ "$rc" -eq 2 ] || fail "config --store nope exited $rc, want 2"
grep -q "nope" <<<"$err" || fail "config --store nope: stderr does not name the store: $err"

# 4. --config FILE replaces the search
printf '{"database.host": "other-host"}\n' >"$T/other/dj.json"
run "$T/proj" --config "$T/other/dj.json"
expect_line "database.host = other-host" "config --config FILE"
expect_line "database.password = null" "config --config FILE (no .secrets beside it)"

# 5. errors exit 2 with the message on stderr and nothing on stdout
printf '{\n  "database": {"host": "h",}\n}\n' >"$T/other/bad.json"
run "$T/proj" --config "$T/other/bad.json"
[ "$rc" -eq 2 ] || fail "bad JSON exited $rc, want 2"
grep -q "bad.json:2:" <<<"$err" || fail "bad JSON: stderr does not name file and line: $err"
[ -z "$out" ] || fail "bad JSON: stdout not empty"
printf '{"stores": {"s": {"protocol": "file", "location": "/x", "region": "r"}}}\n' \
	>"$T/other/badkey.json"
run "$T/proj" --config "$T/other/badkey.json"
[ "$rc" -eq 2 ] || fail "invalid store key exited $rc, want 2"
grep -qF 'Invalid key(s) in config.stores["s"]: region' <<<"$err" ||
	fail "invalid store key: stderr: $err"
ENVS="DJ_PORT=abc" run "$T/proj"
[ "$rc" -eq 2 ] || fail "DJ_PORT=abc exited $rc, want 2"
run "$T/proj" --bogus
[ "$rc" -eq 2 ] || fail "unknown option exited $rc, want 2"
grep -q -- "--help" <<<"$err" || fail "unknown option: no --help hint: $err"
no_secrets "the error cases"

# 6. --help
run "$T/proj" --help
[ "$rc" -eq 0 ] || fail "--help exited $rc"
grep -q "usage: djrun config" <<<"$out" || fail "--help: no usage line"

rm -rf "$T"
if [ "$failures" -ne 0 ]; then
	echo "config.sh: $failures check(s) failed" >&2
	exit 1
fi
echo "config.sh: all checks passed"
