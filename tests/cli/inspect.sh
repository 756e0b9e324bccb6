#!/usr/bin/env bash
# djrun inspect, the built binary: every golden blob prints its index.tsv model, every golden
# .npy its dtype and shape; corrupt input exits 1 naming the problem; bad usage exits 2.
set -uo pipefail
: "${DJRUN:?}" "${DJ_SHARED_DIR:?}"
V=$DJ_SHARED_DIR/vectors
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/../lib/checks.sh"

# Every blob vector: the printed model equals the `expected` column (JSON equality).
python3 - "$DJRUN" "$V/blob" <<'PY' || fails=$((fails + 1))
import json, subprocess, sys
djrun, d = sys.argv[1], sys.argv[2]
lines = open(f"{d}/index.tsv", encoding="utf-8").read().splitlines()
head = lines[0].split("\t")
bad = 0
for line in lines[1:]:
    row = dict(zip(head, line.split("\t")))
    args = [djrun, "inspect", "blob", "--summary", "64", "--info"]
    if row["name"] == "mym32_struct":
        args.append("--dims32")
    r = subprocess.run(args + [f"{d}/{row['name']}.blob"], capture_output=True)
    if r.returncode != 0:
        print(f"FAIL: {row['name']}: exit {r.returncode}: {r.stderr.decode().strip()}", file=sys.stderr)
        bad += 1
        continue
    out = json.loads(r.stdout)
    want = json.loads(row["expected"])
    if out["value"] != want or out["header"] != row["protocol"] or out["zlib"] != (row["wrapper"] == "zlib") \
            or out["bytes"] != int(row["bytes"]):
        print(f"FAIL: {row['name']}:\n  got  {json.dumps(out)[:300]}\n  want {row['expected'][:300]}",
              file=sys.stderr)
        bad += 1
print(f"inspect blob: {len(lines) - 1 - bad} of {len(lines) - 1} vectors match")
sys.exit(1 if bad else 0)
PY

# Every npy vector: version, header text, data offset, dtype and shape as index.tsv says.
python3 - "$DJRUN" "$V/npy" <<'PY' || fails=$((fails + 1))
import json, subprocess, sys
djrun, d = sys.argv[1], sys.argv[2]
lines = open(f"{d}/index.tsv", encoding="utf-8").read().splitlines()
head = lines[0].split("\t")
bad = 0
for line in lines[1:]:
    row = dict(zip(head, line.split("\t")))
    r = subprocess.run([djrun, "inspect", "npy", f"{d}/{row['name']}.npy"], capture_output=True)
    out = json.loads(r.stdout) if r.returncode == 0 else {}
    meta = json.loads(row["metadata_json"])
    want = (row["header_version"], json.loads(row["header_text"]), int(row["data_offset"]),
            meta["dtype"], meta["shape"])
    got = tuple(out.get(k) for k in ("version", "header", "data_offset", "dtype", "shape"))
    if got != want:
        print(f"FAIL: {row['name']}: got {got}, want {want}", file=sys.stderr)
        bad += 1
print(f"inspect npy: {len(lines) - 1 - bad} of {len(lines) - 1} vectors match")
sys.exit(1 if bad else 0)
PY

# A corrupt blob: exit 1, the message names the file and what is wrong, nothing on stdout.
head -c 20 "$V/blob/arr_float64_2x3.blob" > "$tmp/short.blob"
out=$("$DJRUN" inspect blob "$tmp/short.blob" 2>"$tmp/err"); rc=$?
check "truncated blob exits 1" '[ $rc -eq 1 ] && [ -z "$out" ]'
check "truncated blob message" 'grep -q "short.blob" "$tmp/err" && grep -qi "offset" "$tmp/err"'
printf 'ZL123\0\x10\0\0\0\0\0\0\0garbage' > "$tmp/zl.blob"
"$DJRUN" inspect blob "$tmp/zl.blob" 2>"$tmp/err" >/dev/null; rc=$?
check "bad zlib exits 1" '[ $rc -eq 1 ] && [ -s "$tmp/err" ]'
"$DJRUN" inspect blob /nonexistent.blob 2>"$tmp/err" >/dev/null; rc=$?
check "missing file exits 1 naming it" '[ $rc -eq 1 ] && grep -q nonexistent.blob "$tmp/err"'
# Standard input works like a file.
out=$("$DJRUN" inspect blob - < "$V/blob/str_ascii.blob")
check "stdin" '[ "$out" = "{\"t\":\"str\",\"v\":\"test\"}" ]'
# Usage errors: exit 2 with a hint.
"$DJRUN" inspect 2>"$tmp/err" >/dev/null; rc=$?
check "no arguments exits 2" '[ $rc -eq 2 ] && grep -q "djrun inspect --help" "$tmp/err"'
"$DJRUN" inspect blob --forse x 2>"$tmp/err" >/dev/null; rc=$?
check "unknown option exits 2" '[ $rc -eq 2 ] && grep -q "unknown option" "$tmp/err"'
"$DJRUN" inspect tiff x 2>/dev/null >/dev/null; rc=$?
check "unknown kind exits 2" '[ $rc -eq 2 ]'
"$DJRUN" inspect --help | grep -q "usage: djrun inspect"; rc=$?
check "--help" '[ $rc -eq 0 ]'
"$DJRUN" --version | grep -Eq "^djrun [0-9]+\.[0-9]+\.[0-9]+$"; rc=$?
check "--version" '[ $rc -eq 0 ]'

echo "inspect checks: $passes passed, $fails failed"
[ $fails -eq 0 ]
