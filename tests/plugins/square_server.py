#!/usr/bin/env python3
"""A --make-server example (stdlib only): one request line per key on stdin, one reply line
per key on stdout, flushed. Key {"item_id": i} -> sq = i*i, root = i/2, arr = float64
[i, i+1, i+2] as outputs/arr.npy; with --parts also part rows Detail {k, val = i*k}. A fetched
input Item.x.json (--fetch Item.x) must hold item_id + 0.5.
--fail N fails items i % N == 0 (a ValueError reply with its traceback); --min replies sq only;
--die-at N exits on item N; --log FILE appends the server's pid to FILE when it starts.
For the tests a key may carry "mode": garbage (a line that is not JSON), die (exit 5 after a
line on stderr), sleep (hang), pid (row {"pid": its pid}), inputs (row {"input_bytes": the
total size of the inputs})."""
import json, os, struct, sys, time, traceback

args = sys.argv[1:]
fail = int(args[args.index("--fail") + 1]) if "--fail" in args else 0
die_at = int(args[args.index("--die-at") + 1]) if "--die-at" in args else None
parts, minimal = "--parts" in args, "--min" in args
if "--log" in args:  # one line per server started
    with open(args[args.index("--log") + 1], "a") as f:
        f.write("%d\n" % os.getpid())


def npy_f8(path, vals):
    hdr = "{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }" % len(vals)
    hdr += " " * (63 - (10 + len(hdr)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode()
                + struct.pack("<%dd" % len(vals), *vals))


def make(req):
    key = req["key"]
    i, mode = key["item_id"], key.get("mode")
    if mode == "garbage":
        return "this is not json"
    if mode == "die" or i == die_at:
        sys.stderr.write("about to die on item %d\n" % i)
        sys.stderr.flush()
        sys.exit(5)
    if mode == "sleep":
        time.sleep(60)
    if mode == "pid":
        return {"row": {"pid": os.getpid()}}
    if mode == "inputs":
        return {"row": {"input_bytes": sum(os.path.getsize(p) for p in req["inputs"].values())}}
    if "Item.x.json" in req["inputs"]:  # --fetch Item.x
        x = json.load(open(req["inputs"]["Item.x.json"]))
        if x != i + 0.5:
            raise ValueError("Item.x is %r, not item_id + 0.5" % x)
    if fail and i % fail == 0:
        sys.stderr.write("computing item %d\n" % i)
        raise ValueError("boom for item %d" % i)
    if minimal:
        return {"row": {"sq": i * i}}
    npy_f8(os.path.join(req["output_dir"], "arr.npy"), [float(i), i + 1.0, i + 2.0])
    reply = {"row": {"sq": i * i, "root": i * 0.5, "arr": {"npy": "arr.npy"}}}
    if parts:
        reply["parts"] = {"Detail": [{"k": k, "val": i * k} for k in range(3)]}
    return reply


for line in sys.stdin:
    try:
        out = make(json.loads(line))
    except Exception as e:
        out = {"error": "%s: %s" % (type(e).__name__, e), "stack": traceback.format_exc()}
    sys.stdout.write(out + "\n" if isinstance(out, str) else json.dumps(out) + "\n")
    sys.stdout.flush()
