#!/usr/bin/env bash
# djrun gc on the fixture pipeline (restored on MariaDB and on PostgreSQL), under mpirun -n 1 and
# -n 4: the dry run reports exactly the statistics and orphan lists datajoint-python's
# GarbageCollector reported for stores main and deep (expected.json "gc"); --collect deletes
# exactly those files (folders with .manifest.json included, the subfolded store deep too),
# prunes the emptied folders, leaves every other file byte-identical and never touches the
# <filepath@> files under raw/; objects within the grace period are kept; a listing error
# (an unreadable folder) blocks deletion with exit 1. djrun verify (--deep) finds every referenced
# object after a collect, then exactly a damaged and a deleted one. The same on the S3 server (s3rver),
# with a listing error from a refused signature.
set -uo pipefail
: "${MPIEXEC:?}"
. "$(dirname "$0")/../lib/fixture_env.sh"
printf 'leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libhwloc.so\nleak:libpmix.so\nleak:libevent\nleak:mca_\n' >"$tmp/lsan.supp"
export OMPI_MCA_mca_base_component_disable_dlclose=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$tmp/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"
gc_or_verify() { # RANKS COMMAND ARGS...
	local n=$1; shift
	if [ "$n" -le 1 ]; then "$DJRUN" "$@"; else timeout 300 "$MPIEXEC" --oversubscribe -n "$n" "$DJRUN" "$@"; fi
}
gc() { local n=$1; shift; gc_or_verify "$n" gc "$@"; }

# Extract the stores under $tmp/NAME (schema folders renamed like the restored dump).
stores() { # NAME main.tar.gz deep.tar.gz
	local root=$tmp/$1
	rm -rf "$root"; mkdir -p "$root/main" "$root/deep"
	tar -xzf "$2" -C "$root/main" && tar -xzf "$3" -C "$root/deep" || return 1
	for s in main deep; do for d in _hash _schema; do
		[ -d "$root/$s/$d/fx_ephys" ] && mv "$root/$s/$d/fx_ephys" "$root/$s/$d/$ephys"
	done; done
	sed "s|\${STORE_ROOT}|$root|g" "$F/datajoint.json" >"$root/datajoint.json"
}

# compare GOT.json EXPECTED.json STORE [KEY-PREFIX]: the library's keys (those starting with
# KEY-PREFIX) equal, schema names renamed
compare() {
	python3 - "$1" "$2" "$3" "$ephys" "${4:-}" <<'PY'
import json, sys
got = json.load(open(sys.argv[1]))
exp = json.loads(open(sys.argv[2]).read().replace("fx_ephys", sys.argv[4]))["gc"][sys.argv[3]]
bad = [k for k in exp if k.startswith(sys.argv[5]) and got.get(k) != exp[k]]
for k in bad:
    print("  %s: got %r expected %r" % (k, got.get(k), exp[k]), file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}

# The files of a store with their sha256, one "sha path" a line, sorted.
inventory() { (cd "$1" && find . -type f -printf '%P\n' | LC_ALL=C sort | while read -r f; do echo "$(sha256sum <"$f" | cut -c1-64) $f"; done); }

# after BEFORE AFTER GOT.json: AFTER == BEFORE minus exactly the orphan lists of GOT.json
after_collect() {
	python3 - "$@" <<'PY'
import json, sys
before = dict(l.split(" ", 1)[::-1] for l in open(sys.argv[1]).read().splitlines())
after = dict(l.split(" ", 1)[::-1] for l in open(sys.argv[2]).read().splitlines())
g = json.load(open(sys.argv[3]))
gone = set(g["orphaned_hash_paths"]) | set(g["orphaned_schema_paths"])
ok = set(after) == set(before) - gone and all(after[p] == before[p] for p in after)
ok = ok and g["deleted"] == len(gone) and g["errors"] == 0 and not g["scan_errors"]
if not ok:
    print("  left:", sorted(set(after) - (set(before) - gone))[:5], "missing:",
          sorted((set(before) - gone) - set(after))[:5], file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

fixture_checks() { # NAME DUMP-RESTORE-DONE EXPECTED MAIN DEEP
	local name=$1 exp=$2 mt=$3 dt=$4 root=$tmp/$1 n
	for n in 1 4; do
		stores "$name" "$mt" "$dt"
		local cfg=$root/datajoint.json
		gc "$n" "$lab" "$ephys" --config "$cfg" --grace 0s --json >dry.json 2>err; rc=$?
		check "$name -n $n: dry run exits 0" '[ $rc -eq 0 ]' || cat err >&2
		check "$name -n $n: main: exactly the library's statistics and orphans" 'compare dry.json "$exp" main'
		gc "$n" "$lab" "$ephys" --config "$cfg" --store deep --grace 0s --json >deep.json 2>err
		check "$name -n $n: deep (subfolding 2,2): exactly the library's orphans" 'compare deep.json "$exp" deep'
		# listings cut every 2 records go on in continuation shards: the same answer
		gc "$n" "$lab" "$ephys" --config "$cfg" --store deep --grace 0s --json --list-chunk 2 --scan-page 3 >deep2.json 2>err
		check "$name -n $n: deep, listing in chunks of 2, references in pages of 3: the same orphans" 'compare deep2.json "$exp" deep'
		inventory "$root/main" >before.txt
		inventory "$root/deep" >before-deep.txt
		# the default grace period (24 h) keeps objects written now
		find "$root/main" -type f -exec touch {} +
		gc "$n" "$lab" "$ephys" --config "$cfg" --collect --json >young.json 2>err; rc=$?
		check "$name -n $n: within the grace period nothing is deleted" \
			'[ $rc -eq 0 ] && python3 -c "import json,sys; g=json.load(open(\"young.json\")); sys.exit(not (g[\"deleted\"]==0 and g[\"hash_paths_within_grace\"]==13 and g[\"schema_paths_within_grace\"]==12))" && diff -q before.txt <(inventory "$root/main") >/dev/null'
		gc "$n" "$lab" "$ephys" --config "$cfg" --collect --grace 0s --hold 0s --json >col.json 2>err; rc=$?
		check "$name -n $n: collect exits 0" '[ $rc -eq 0 ]' || cat err >&2
		inventory "$root/main" >after.txt
		check "$name -n $n: collect deleted exactly the orphans, the rest byte-identical" \
			'after_collect before.txt after.txt col.json'
		check "$name -n $n: filepath files under raw/ untouched" \
			'[ "$(grep -c " raw/" before.txt)" -gt 0 ] && diff <(grep " raw/" before.txt) <(grep " raw/" after.txt) >/dev/null'
		check "$name -n $n: emptied folders pruned" \
			'[ ! -e "$root/main/_schema/$ephys/__summary/subject=rat01" ] && [ -d "$root/main/_schema/$ephys/__summary" ]'
		check "$name -n $n: no trash left" '! find "$root/main" -name "*.djrun-gc-trash" | grep -q .'
		gc "$n" "$lab" "$ephys" --config "$cfg" --grace 0s --json >again.json 2>err
		check "$name -n $n: a second dry run finds no orphan" \
			'python3 -c "import json,sys; g=json.load(open(\"again.json\")); sys.exit(g[\"hash_paths_orphaned\"]+g[\"schema_paths_orphaned\"])"'
		gc "$n" "$lab" "$ephys" --config "$cfg" --store deep --collect --grace 0s --hold 0s --json >deepc.json 2>err
		inventory "$root/deep" >after-deep.txt
		check "$name -n $n: deep: collect deleted exactly its orphan" 'after_collect before-deep.txt after-deep.txt deepc.json'
		gc_or_verify "$n" verify "$ephys" --config "$cfg" --deep >v.txt 2>err; rc=$?
		check "$name -n $n: verify --deep after collect: every referenced object present and intact" \
			'[ $rc -eq 0 ] && [ ! -s v.txt ] && grep -q "26 references checked, 0 missing, 0 corrupt" err'
		# damage two referenced objects: one rewritten in place, one deleted
		printf x | dd of="$root/main/_hash/$ephys/4qtirt2bne6hxofeiylnuenhbe" bs=1 seek=10 conv=notrunc 2>/dev/null
		rm "$root/deep/_hash/$ephys/wu/lv/wulvwf7gnpjsedoobczyvvniui"
		gc_or_verify "$n" verify "$ephys" --config "$cfg" --deep >v.txt 2>err; rc=$?
		check "$name -n $n: verify --deep reports exactly the damaged and the missing object" \
			'[ $rc -eq 1 ] && [ "$(wc -l <v.txt)" -eq 2 ] && grep -q "^corrupt.main._hash/$ephys/4qtirt2bne6hxofeiylnuenhbe.__spikes__unit.report.content hash" v.txt && grep -q "^missing.deep._hash/$ephys/wu/lv/wulvwf7gnpjsedoobczyvvniui._recording.lfp" v.txt'
		gc_or_verify "$n" verify "$ephys" --config "$cfg" --store main >v.txt 2>err; rc=$?
		check "$name -n $n: verify --store main without --deep: same size, so nothing to see" '[ $rc -eq 0 ] && [ ! -s v.txt ]'
	done

	# a listing error: a folder the (unprivileged) collector cannot read
	stores "$name" "$mt" "$dt"
	chmod 755 "$tmp"; chmod -R a+rX "$root"
	inventory "$root/main" >before.txt
	chmod 000 "$root/main/_schema/$ephys/__summary"
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$DJRUN" gc "$lab" "$ephys" --config "$root/datajoint.json" --collect --grace 0s --hold 0s --json >blocked.json 2>err; rc=$?
	chmod 755 "$root/main/_schema/$ephys/__summary"
	check "$name: a listing error exits 1 and says deletion is refused" \
		'[ $rc -eq 1 ] && grep -q "refusing to delete" err && grep -q "__summary" err'
	check "$name: a listing error deletes nothing" \
		'diff -q before.txt <(inventory "$root/main") >/dev/null && python3 -c "import json,sys; g=json.load(open(\"blocked.json\")); sys.exit(not (g[\"deleted\"]==0 and len(g[\"scan_errors\"])>=1))"'
	# trash left by an interrupted run: referenced objects come back, the orphan's trash goes
	stores "$name" "$mt" "$dt"
	local h=$root/main/_hash/$ephys s=$root/main/_schema/$ephys/__summary/subject=mouse01/session_idx=1/method=threshold
	mv "$h/4qtirt2bne6hxofeiylnuenhbe" "$h/4qtirt2bne6hxofeiylnuenhbe.djrun-gc-trash"
	mv "$h/33vsk5avsseusbgmickjrsukga" "$h/33vsk5avsseusbgmickjrsukga.djrun-gc-trash"
	local r; r=$(ls "$s"/rates_*.csv | head -1) # the token differs between the fixtures
	mv "$r" "$r.djrun-gc-trash"
	"$DJRUN" gc "$lab" "$ephys" --config "$root/datajoint.json" --collect --grace 0s --hold 0s --json >left.json 2>err; rc=$?
	"$DJRUN" verify "$ephys" --config "$root/datajoint.json" --deep >v.txt 2>&1; rc2=$?
	check "$name: trash of an earlier run: referenced objects restored, the orphan's purged" \
		'[ $rc -eq 0 ] && [ $rc2 -eq 0 ] && [ ! -e "$h/33vsk5avsseusbgmickjrsukga.djrun-gc-trash" ] && ! find "$root/main" -name "*.djrun-gc-trash" | grep -q . && python3 -c "import json,sys; g=json.load(open(\"left.json\")); sys.exit(not (g[\"restored\"]==2 and g[\"trash_from_earlier_runs\"]==3))"'
}

"$DJRUN" gc 2>err >/dev/null; rc=$?
check "no schema exits 2" '[ $rc -eq 2 ] && grep -q "at least one schema" err'
"$DJRUN" gc x --grace soon 2>err >/dev/null; rc=$?
check "a bad duration exits 2" '[ $rc -eq 2 ] && grep -q "duration" err'

if need DJ_TEST_MYSQL_HOST; then
	my -e "DROP DATABASE IF EXISTS $ephys; DROP DATABASE IF EXISTS $lab"
	rename "$F/mariadb.sql" | my; rc=$?
	check "mariadb: fixture restored" '[ $rc -eq 0 ]'
	(
		export DJ_HOST=$DJ_TEST_MYSQL_HOST:$DJ_TEST_MYSQL_PORT DJ_USER=$DJ_TEST_MYSQL_USER DJ_PASS=$DJ_TEST_MYSQL_PASS
		fixture_checks mariadb "$F/expected.json" "$F/store-main.tar.gz" "$F/store-deep.tar.gz"
		port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		DJ_HOST=127.0.0.1:$port "$DJRUN" gc "$lab" --config "$tmp/mariadb/datajoint.json" 2>err >/dev/null; rc=$?
		check "mariadb: unreachable server exits 3" '[ $rc -eq 3 ]'
		"$DJRUN" gc "$lab" --config "$tmp/mariadb/datajoint.json" --store nosuch 2>err >/dev/null; rc=$?
		check "mariadb: unknown store exits 2" '[ $rc -eq 2 ] && grep -q nosuch err'

		if need DJ_TEST_S3_ENDPOINT; then
			loc=gc-$$-$RANDOM
			python3 - "$tmp/s3.json" "$loc" <<'PY'
import json, os, sys
e = os.environ
s3 = {"protocol": "s3", "endpoint": e["DJ_TEST_S3_ENDPOINT"], "bucket": e["DJ_TEST_S3_BUCKET"],
      "location": sys.argv[2], "access_key": e["DJ_TEST_S3_ACCESS_KEY"],
      "secret_key": e["DJ_TEST_S3_SECRET_KEY"], "secure": False}
json.dump({"stores": {"default": "main", "main": s3, "bad": dict(s3, secret_key="nope")}},
          open(sys.argv[1], "w"))
PY
			stores mariadb "$F/store-main.tar.gz" "$F/store-deep.tar.gz"
			(cd "$tmp/mariadb/main" && find . -type f -printf '%P\n') | LC_ALL=C sort >s3files.txt
			up=0
			while read -r f; do "$DJRUN" store put main "$f" "$tmp/mariadb/main/$f" --config "$tmp/s3.json" >/dev/null 2>&1 || up=1; done <s3files.txt
			check "s3: fixture store uploaded" '[ $up -eq 0 ]'
			"$DJRUN" gc "$lab" "$ephys" --config "$tmp/s3.json" --store bad --collect --grace 0s --json >s3bad.json 2>err; rc=$?
			check "s3: a refused listing exits 1, nothing deleted" \
				'[ $rc -eq 1 ] && grep -q "refusing to delete" err && [ "$("$DJRUN" store ls main --config "$tmp/s3.json" | wc -l)" -eq "$(wc -l <s3files.txt)" ]'
			gc 4 "$lab" "$ephys" --config "$tmp/s3.json" --grace 0s --json >s3dry.json 2>err; rc=$?
			check "s3 -n 4: exactly the library's statistics and orphans" '[ $rc -eq 0 ] && compare s3dry.json "$F/expected.json" main'
			gc 2 "$lab" "$ephys" --config "$tmp/s3.json" --grace 0s --json --list-chunk 3 >s3chunk.json 2>err; rc=$?
			# (hash section only: s3rver lists a folder before a same-named file such as its
			# .manifest.json, not in S3's byte order, so start-after cannot resume it exactly)
			check "s3 -n 2: listing in chunks of 3 (start-after continuations): the same hash statistics and orphans" \
				'[ $rc -eq 0 ] && compare s3chunk.json "$F/expected.json" main hash_ && compare s3chunk.json "$F/expected.json" main orphaned_hash'
			gc 4 "$lab" "$ephys" --config "$tmp/s3.json" --collect --grace 0s --hold 0s --json >s3col.json 2>err; rc=$?
			"$DJRUN" store ls main --config "$tmp/s3.json" | LC_ALL=C sort >s3after.txt
			python3 - s3files.txt s3after.txt s3col.json <<'PY' ; rc2=$?
import json, sys
before = set(open(sys.argv[1]).read().split()); after = set(open(sys.argv[2]).read().split())
g = json.load(open(sys.argv[3]))
gone = set(g["orphaned_hash_paths"]) | set(g["orphaned_schema_paths"])
sys.exit(0 if after == before - gone and len(gone) == 25 and g["deleted"] == 25 else 1)
PY
			check "s3 -n 4: collect deleted exactly the 25 orphans" '[ $rc -eq 0 ] && [ $rc2 -eq 0 ]'
			"$DJRUN" store ls main --config "$tmp/s3.json" | while read -r k; do "$DJRUN" store rm main "$k" --config "$tmp/s3.json"; done
		fi
		echo "$passes $fails" >counts
	)
	read -r passes fails <counts
fi

if need DJ_TEST_PG_HOST; then
	pg -c "DROP SCHEMA IF EXISTS $ephys CASCADE" -c "DROP SCHEMA IF EXISTS $lab CASCADE" 2>/dev/null
	rename "$F/postgres.sql" | pg >/dev/null; rc=$?
	check "postgresql: fixture restored" '[ $rc -eq 0 ]'
	(
		export DJ_BACKEND=postgresql DJ_HOST=$DJ_TEST_PG_HOST DJ_PORT=$DJ_TEST_PG_PORT \
			DJ_USER=$DJ_TEST_PG_USER DJ_PASS=$DJ_TEST_PG_PASS DJ_DATABASE_NAME=${DJ_TEST_PG_DB:-postgres}
		fixture_checks postgresql "$F/expected-postgres.json" "$F/postgres-store-main.tar.gz" "$F/postgres-store-deep.tar.gz"
		echo "$passes $fails" >counts
	)
	read -r passes fails <counts
fi

echo "gc fixture checks: $passes passed, $fails failed"
[ $fails -eq 0 ]
