#!/usr/bin/env python3
"""Restore the real datajoint-python fixtures into the test MariaDB and PostgreSQL servers and
check them against expected*.json: tables, columns and their :type: comments, row counts, every
in-table blob's bytes (size + SHA-256), every hash-addressed object in the extracted stores
(MD5 -> base32 equals its name and metadata), and every blob -- in-table and hash-addressed --
decoded by `djrun inspect blob` equals the value datajoint-python decoded.

Rows are compared per column as multisets, so no key matching is needed. Python stdlib only; the
servers are reached with their own command-line clients."""
import base64, collections, hashlib, json, os, struct, subprocess, sys, tarfile, tempfile

SHARED = os.environ.get("DJ_SHARED_DIR", os.path.join(os.path.dirname(__file__), "../../../shared"))
DJRUN = os.environ.get("DJRUN")
FIX = os.path.join(SHARED, "fixtures")
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg, file=sys.stderr)


def need(var):
    v = os.environ.get(var)
    if not v:
        if os.environ.get("DJ_TEST_REQUIRE_SERVICES"):
            sys.exit(f"{var} is not set but DJ_TEST_REQUIRE_SERVICES is: the service did not start")
        print(f"SKIP: {var} not set (no test server)")
        sys.exit(77)
    return v


class MySQL:
    name = "mariadb"

    def __init__(self):
        self.args = ["mariadb", "--no-defaults", "-h", need("DJ_TEST_MYSQL_HOST"), "-P",
                     need("DJ_TEST_MYSQL_PORT"), "-u", need("DJ_TEST_MYSQL_USER"),
                     "-p" + need("DJ_TEST_MYSQL_PASS")]

    def load(self, path):
        with open(path, "rb") as f:
            subprocess.run(self.args, stdin=f, check=True)

    def rows(self, sql):
        out = subprocess.run(self.args + ["--batch", "--raw", "-N", "-e", sql], check=True,
                             capture_output=True).stdout.decode()
        return [line.split("\t") for line in out.splitlines()]

    def q(self, ident):
        return "`" + ident.replace("`", "``") + "`"

    def columns(self, schema, table):
        return self.rows("SELECT COLUMN_NAME, COLUMN_COMMENT FROM information_schema.COLUMNS "
                         f"WHERE TABLE_SCHEMA='{schema}' AND TABLE_NAME='{table}' ORDER BY ORDINAL_POSITION")

    def hex_of(self, col):
        return f"HEX({self.q(col)})"

    def drop(self, schema):
        self.rows(f"DROP DATABASE IF EXISTS {self.q(schema)}")


class Postgres:
    name = "postgres"

    def __init__(self):
        self.env = dict(os.environ, PGPASSWORD=need("DJ_TEST_PG_PASS"))
        self.args = ["psql", "-h", need("DJ_TEST_PG_HOST"), "-p", need("DJ_TEST_PG_PORT"), "-U",
                     need("DJ_TEST_PG_USER"), "-d", need("DJ_TEST_PG_DB"), "-v", "ON_ERROR_STOP=1", "-q"]

    def load(self, path):
        subprocess.run(self.args + ["-f", path], check=True, env=self.env, stdout=subprocess.DEVNULL)

    def rows(self, sql):
        out = subprocess.run(self.args + ["-At", "-F", "\t", "-c", sql], check=True, env=self.env,
                             capture_output=True).stdout.decode()
        return [line.split("\t") for line in out.splitlines()]

    def q(self, ident):
        return '"' + ident.replace('"', '""') + '"'

    def columns(self, schema, table):
        return self.rows("SELECT a.attname, coalesce(col_description(a.attrelid, a.attnum), '') "
                         "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                         "JOIN pg_namespace n ON n.oid = c.relnamespace "
                         f"WHERE n.nspname = '{schema}' AND c.relname = '{table}' "
                         "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum")

    def hex_of(self, col):
        return f"encode({self.q(col)}, 'hex')"

    def drop(self, schema):
        self.rows(f"DROP SCHEMA IF EXISTS {self.q(schema)} CASCADE")


def b32hash(data):
    return base64.b32encode(hashlib.md5(data).digest()).decode().rstrip("=").lower()


# --- decoded blob model (djrun inspect blob) -> the fixture's representation -------------------

FMT = {"float64": "d", "float32": "f", "int8": "b", "uint8": "B", "int16": "h", "uint16": "H",
       "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q", "bool": "?"}


def num(text, dtype):
    if dtype == "bool":
        return bool(text)
    if dtype.startswith("float"):
        if text.startswith("nan:"):
            return float("nan")
        return float(text)
    return int(text)


def f_to_c(values, shape):
    """Reorder a column-major element list into row-major order."""
    if len(shape) < 2:
        return list(values)
    out = []
    n = 1
    for s in shape:
        n *= s
    for flat in range(n):
        idx, rem = [], flat
        for s in reversed(shape):
            idx.append(rem % s)
            rem //= s
        idx.reverse()
        f, stride = 0, 1
        for i, s in zip(idx, shape):
            f += i * stride
            stride *= s
        out.append(values[f])
    return out


def ndarray_summary(m):
    dtype, shape = m["dtype"], m["shape"]
    if m.get("complex") or dtype not in FMT or "data_F" not in m:
        raise ValueError(f"unhandled array in fixture check: {json.dumps(m)[:200]}")
    vals = f_to_c([num(x, dtype) for x in m["data_F"]], shape)
    raw = struct.pack("<%d%s" % (len(vals), FMT[dtype]), *vals)
    out = {"dtype": dtype, "shape": shape, "nbytes": len(raw),
           "sha256_le": hashlib.sha256(raw).hexdigest()}
    # the fixture lists small arrays whole, larger ones by head, min and max
    if len(vals) <= 16:
        out["values"] = vals
    else:
        out["head"], out["min"], out["max"] = vals[:6], min(vals), max(vals)
    return {"$ndarray": out}


def to_fixture(m):
    t = m["t"]
    if t == "none":
        return None
    if t == "bool":
        return m["v"]
    if t == "int":
        return int(m["v"])
    if t == "float":
        return num(m["v"], "float64")
    if t == "str":
        return m["v"]
    if t == "list":
        return [to_fixture(x) for x in m["items"]]
    if t == "tuple":
        return {"$tuple": [to_fixture(x) for x in m["items"]]}
    if t == "dict":
        return {"$dict": {to_fixture(k): to_fixture(v) for k, v in m["items"]}}
    if t == "A":
        return ndarray_summary(m)
    raise ValueError(f"unhandled blob item type {t!r} in fixture check")


def canon(v):
    """Text form for multiset comparison; floats rounded to survive repr differences."""
    def norm(x):
        if isinstance(x, float):
            return round(x, 12)
        if isinstance(x, dict):
            return {k: norm(y) for k, y in x.items()}
        if isinstance(x, list):
            return [norm(y) for y in x]
        return x
    return json.dumps(norm(v), sort_keys=True)


def decode_blob(data, tmp):
    path = os.path.join(tmp, "value.blob")
    with open(path, "wb") as f:
        f.write(data)
    r = subprocess.run([DJRUN, "inspect", "blob", path], capture_output=True)
    if r.returncode != 0:
        raise ValueError("djrun inspect blob failed: " + r.stderr.decode().strip())
    return json.loads(r.stdout)


# --- the checks -------------------------------------------------------------------------------

def check_schema(db, sname, schema, expected, stores, tmp):
    for tname, t in schema.items():
        where = f"{db.name} {sname}.{tname}"
        cols = db.columns(sname, tname)
        got = [(c[0], c[1]) for c in cols]
        want = [(c["name"], c["comment"]) for c in t["columns"]]
        if got != want:
            fail(f"{where}: columns differ:\n  got  {got}\n  want {want}")
        n = int(db.rows(f"SELECT COUNT(*) FROM {db.q(sname)}.{db.q(tname)}")[0][0])
        if n != t["row_count"]:
            fail(f"{where}: {n} rows, expected {t['row_count']}")
        codec = {c["name"]: (c["codec"], c["store"]) for c in t["columns"]}
        raw = t.get("raw") or {}
        for col in raw.get("byte_columns", []):
            check_byte_column(db, where, sname, tname, col, codec[col], t, raw, tmp)
        for col in raw.get("json_columns", []):
            check_json_column(db, where, sname, tname, col, codec[col], t, raw, stores, tmp)


def fetch_column(db, sname, tname, expr):
    return [r[0] if r else "" for r in db.rows(f"SELECT {expr} FROM {db.q(sname)}.{db.q(tname)}")]


def check_byte_column(db, where, sname, tname, col, codec, t, raw, tmp):
    values = fetch_column(db, sname, tname,
                          f"CASE WHEN {db.q(col)} IS NULL THEN 'NULL' ELSE {db.hex_of(col)} END")
    got = collections.Counter()
    blobs = []
    for h in values:
        if h == "NULL":
            got["null"] += 1
            continue
        data = bytes.fromhex(h)
        got[(len(data), hashlib.sha256(data).hexdigest())] += 1
        blobs.append(data)
    want = collections.Counter()
    for r in raw["rows"]:
        v = r[col]
        want["null" if v is None else (v["size"], v["sha256"])] += 1
    if got != want:
        fail(f"{where}.{col}: stored bytes differ from the fixture's record")
    if codec[0] == "blob":
        compare_decoded(where + "." + col, [b for b in blobs], [r[col] for r in t["rows"]], tmp)


def check_json_column(db, where, sname, tname, col, codec, t, raw, stores, tmp):
    values = fetch_column(db, sname, tname, f"{db.q(col)}")
    got = collections.Counter(canon(json.loads(v)) for v in values if v not in ("", "NULL"))
    want = collections.Counter(canon(r[col]) for r in raw["rows"] if r[col] is not None)
    if got != want:
        fail(f"{where}.{col}: JSON metadata differs from the fixture's record")
    if codec[0] == "npy":
        check_npy_objects(where + "." + col, col, t, raw, stores, tmp)
    if codec[0] not in ("blob", "attach"):
        return
    blobs = []
    for r in raw["rows"]:
        meta = r[col]
        if meta is None:
            continue
        root = stores[meta["store"]]
        with open(os.path.join(root, meta["path"]), "rb") as f:
            data = f.read()
        if b32hash(data) != meta["hash"] or len(data) != meta["size"]:
            fail(f"{where}.{col}: object {meta['path']} does not match its hash/size")
        if not meta["path"].endswith(meta["hash"]):
            fail(f"{where}.{col}: object path {meta['path']} does not end in its hash")
        blobs.append(data)
    if codec[0] == "blob":
        compare_decoded(where + "." + col, blobs, [r[col] for r in t["rows"]], tmp)


def check_npy_objects(where, col, t, raw, stores, tmp):
    got, want = collections.Counter(), collections.Counter()
    for r in raw["rows"]:
        meta = r[col]
        if meta is None:
            continue
        res = subprocess.run([DJRUN, "inspect", "npy", os.path.join(stores[meta["store"]], meta["path"])],
                             capture_output=True)
        if res.returncode != 0:
            fail(f"{where}: djrun inspect npy failed: {res.stderr.decode().strip()}")
            return
        out = json.loads(res.stdout)
        if out["dtype"] != meta["dtype"] or out["shape"] != meta["shape"]:
            fail(f"{where}: {meta['path']}: file says {out['dtype']} {out['shape']}, column says "
                 f"{meta['dtype']} {meta['shape']}")
        arr = ndarray_summary(out["value"])["$ndarray"]
        got[canon({"$npy": {"shape": out["shape"], "dtype": out["dtype"], "array": arr}})] += 1
    for r in t["rows"]:
        if r[col] is not None:
            want[canon(r[col])] += 1
    if got != want:
        fail(f"{where}: .npy contents differ\n  djrun only: {list(got - want)[:1]}\n"
             f"  python only: {list(want - got)[:1]}")
    else:
        print(f"ok: {where}: {sum(got.values())} .npy objects read as datajoint-python read them")


def compare_decoded(where, blobs, expected_values, tmp):
    got, want = collections.Counter(), collections.Counter()
    for b in blobs:
        try:
            got[canon(to_fixture(decode_blob(b, tmp)))] += 1
        except ValueError as e:
            fail(f"{where}: {e}")
            return
    for v in expected_values:
        if v is not None:
            want[canon(v)] += 1
    if got != want:
        extra, missing = got - want, want - got
        fail(f"{where}: decoded values differ\n  djrun only:  {list(extra)[:2]}\n"
             f"  python only: {list(missing)[:2]}")
    else:
        print(f"ok: {where}: {sum(got.values())} blobs decode as datajoint-python decoded them")


def run_fixture(db, dump, expected_json, store_tars, tmp):
    exp = json.load(open(expected_json))
    # dependent schemas first: fx_ephys has foreign keys into fx_lab
    for sname in reversed(list(exp["schemas"])):
        db.drop(sname)
    db.load(dump)
    stores = {}
    for name, tar in store_tars.items():
        root = os.path.join(tmp, db.name, name)
        os.makedirs(root, exist_ok=True)
        with tarfile.open(tar) as tf:
            tf.extractall(root)
        stores[name] = root
    for sname, schema in exp["schemas"].items():
        check_schema(db, sname, schema, exp, stores, tmp)
    for sname in reversed(list(exp["schemas"])):
        db.drop(sname)


def main():
    if not DJRUN:
        sys.exit("DJRUN is not set")
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(FIX, "pipeline")
        run_fixture(MySQL(), os.path.join(p, "mariadb.sql"), os.path.join(p, "expected.json"),
                    {"main": os.path.join(p, "store-main.tar.gz"),
                     "deep": os.path.join(p, "store-deep.tar.gz")}, tmp)
        run_fixture(Postgres(), os.path.join(p, "postgres.sql"),
                    os.path.join(p, "expected-postgres.json"),
                    {"main": os.path.join(p, "postgres-store-main.tar.gz"),
                     "deep": os.path.join(p, "postgres-store-deep.tar.gz")}, tmp)
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        sys.exit(1)
    print("all fixture checks passed")


if __name__ == "__main__":
    main()
