"""A writer that behaves like datajoint-python's <hash@> insert, for tests/e2e/gc_concurrent.sh.

For DURATION seconds: pick content (half new, half from a small pool, so that many inserts are
dedup hits on objects that already exist and may be orphaned), find whether its hash object
exists, upload it only when it does not (the library's rule), then INSERT a row naming it;
every fifth step deletes an earlier row instead (making orphans for gc to find). SQL goes
through one long-lived `mariadb` client (autocommit), or `psql` when GC_WRITER_DB=postgresql;
each INSERT is waited for, as the library's insert returns once its row is committed. At the end: writes the ids it expects to
read back (inserted, not deleted), one "id hash" a line, and how many inserts were dedup hits.

usage: gc_writer.py file ROOT | s3 ENDPOINT BUCKET LOCATION KEY SECRET  then  SCHEMA SECONDS OUT
"""
import base64, hashlib, json, os, random, subprocess, sys, time

args = sys.argv[1:]
kind = args.pop(0)
if kind == "file":
    root = args.pop(0)
else:
    import boto3
    from botocore.config import Config
    endpoint, bucket, location, key, secret = args[:5]
    args = args[5:]
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                      aws_secret_access_key=secret, region_name="us-east-1",
                      config=Config(retries={"max_attempts": 2}))
schema, seconds, out = args[0], float(args[1]), args[2]


def exists(path):
    if kind == "file":
        return os.path.exists(os.path.join(root, path))
    try:
        s3.head_object(Bucket=bucket, Key=location + "/" + path)
        return True
    except Exception:
        return False


def upload(path, data):
    if kind == "file":
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        tmp = full + ".saving.w%d" % os.getpid()
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, full)
    else:
        s3.put_object(Bucket=bucket, Key=location + "/" + path, Body=data)


e = os.environ
if e.get("GC_WRITER_DB") == "postgresql":
    q = '"'
    sql = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", e["DJ_TEST_PG_HOST"],
                            "-p", e["DJ_TEST_PG_PORT"], "-U", e["DJ_TEST_PG_USER"],
                            "-d", e.get("DJ_TEST_PG_DB") or "postgres"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           env=dict(e, PGPASSWORD=e["DJ_TEST_PG_PASS"]), text=True)
else:
    q = "`"
    sql = subprocess.Popen(["mariadb", "--no-defaults", "-h", e["DJ_TEST_MYSQL_HOST"], "-P",
                            e["DJ_TEST_MYSQL_PORT"], "-u", e["DJ_TEST_MYSQL_USER"], "-B", "-N", "--unbuffered"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           env=dict(e, MYSQL_PWD=e["DJ_TEST_MYSQL_PASS"]), text=True)
table = "%s%s%s.%sitem%s" % (q, schema, q, q, q)
pool = [("pool-%d " % i).encode() * 50 for i in range(12)]
live, hits, nid = {}, 0, 0
rnd = random.Random(7)
end = time.time() + seconds
while time.time() < end:
    if live and rnd.random() < 0.2:
        victim = rnd.choice(sorted(live))
        del live[victim]
        sql.stdin.write("DELETE FROM %s WHERE id=%d;\n" % (table, victim))
        sql.stdin.flush()
        continue
    data = rnd.choice(pool) if rnd.random() < 0.5 else os.urandom(64 + rnd.randrange(400))
    h = base64.b32encode(hashlib.md5(data).digest()).decode().rstrip("=").lower()
    path = "_hash/%s/%s" % (schema, h)
    if exists(path):
        hits += 1  # dedup hit: no upload, the row names the object found
    else:
        upload(path, data)
    nid += 1
    meta = {"hash": h, "path": path, "schema": schema, "store": "main", "size": len(data)}
    # as the library's insert returns only once the row is committed, wait for the server's
    # answer: a queue of statements in the pipe would stretch the gap between finding the
    # object and its row without bound (gc's one assumption, jobs/gc.h)
    sql.stdin.write("INSERT INTO %s VALUES (%d, '%s');\nSELECT %d;\n" % (table, nid, json.dumps(meta), nid))
    sql.stdin.flush()
    while True:
        line = sql.stdout.readline()
        if not line or line.strip() == str(nid):
            break
    live[nid] = h
    time.sleep(0.005)
sql.stdin.close()
rc = sql.wait()
with open(out, "w") as f:
    for i in sorted(live):
        f.write("%d %s\n" % (i, live[i]))
print("writer: %d inserts, %d dedup hits, %d rows live, sql exit %d" % (nid, hits, len(live), rc))
sys.exit(rc)
