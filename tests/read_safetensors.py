#!/usr/bin/env python3
"""read_safetensors.py: an independent reader of a file written by iron-learn (issue 7).

Parses <dir>/gen.safetensors (made by tests/gen_safetensors.c) with the standard library only
(struct, json) and checks the layout rules of the format, every name, dtype, shape and value
(known formulas, and the network's values listed in <dir>/gen.txt as hex floats), and that the
"iron-learn" metadata is JSON whose graph matches the parameter shapes. With NumPy present,
the values are cross-checked through numpy.frombuffer too. Exit status 0 means all good.
"""
import json
import struct
import sys

SIZES = {"F32": (4, "f"), "F64": (8, "d"), "I64": (8, "q")}


def fail(msg):
    print("read_safetensors: " + msg)
    sys.exit(1)


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (hlen,) = struct.unpack("<Q", blob[:8])
    if hlen % 8 != 0 or 8 + hlen > len(blob):
        fail("bad header length %d" % hlen)
    header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    data = blob[8 + hlen:]
    meta = header.pop("__metadata__", {})
    tensors, end = {}, 0
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        size, code = SIZES[e["dtype"]]
        b, en = e["data_offsets"]
        if b != end:
            fail("%s: gap or overlap at %d (expected %d)" % (name, b, end))
        n = 1
        for d in e["shape"]:
            n *= d
        if en - b != n * size:
            fail("%s: %d bytes for %d elements" % (name, en - b, n))
        vals = list(struct.unpack("<%d%s" % (n, code), data[b:en]))
        tensors[name] = (e["dtype"], e["shape"], vals, data[b:en])
        end = en
    if end != len(data):
        fail("data section has %d bytes, tensors use %d" % (len(data), end))
    return meta, tensors


def expect(tensors, name, dtype, shape, values):
    got = tensors.get(name)
    if got is None:
        fail("missing tensor " + name)
    if got[0] != dtype or got[1] != shape:
        fail("%s: %s %s, expected %s %s" % (name, got[0], got[1], dtype, shape))
    if got[2] != values:
        fail("%s: values %s, expected %s" % (name, got[2][:6], values[:6]))


def main():
    d = sys.argv[1]
    meta, t = read(d + "/gen.safetensors")
    f32 = lambda v: struct.unpack("<f", struct.pack("<f", v))[0]
    expect(t, "a.f32", "F32", [3, 4], [f32(i * 0.25 - 1) for i in range(12)])
    expect(t, "b.f64", "F64", [5], [1.0 / (i + 1) for i in range(5)])
    expect(t, "c.i64", "I64", [2, 3], [i * i - 7 for i in range(6)])
    expect(t, "d.scalar", "F64", [], [2.5])
    doc = json.loads(meta["iron-learn"])
    if doc["format"] != 1:
        fail("format %r" % doc["format"])
    widths = {}
    for node in doc["graph"]["nodes"]:
        if node["kind"] == "linear":
            widths[node["name"] + ".weight"] = [node["in_features"], node["features"]]
            widths[node["name"] + ".bias"] = [node["features"]]
    if sorted(widths) != ["fc1.bias", "fc1.weight", "linear3.bias", "linear3.weight"]:
        fail("graph names %s" % sorted(widths))
    with open(d + "/gen.txt") as f:
        for line in f:
            name, *vals = line.split()
            expect(t, name, "F32", widths[name], [float.fromhex(v) for v in vals])
    try:
        import numpy as np
    except ImportError:
        np = None
    if np is not None:
        for name, (dt, shape, vals, raw) in t.items():
            arr = np.frombuffer(raw, dtype={"F32": "<f4", "F64": "<f8", "I64": "<i8"}[dt])
            if list(arr.reshape(shape).ravel()) != vals:
                fail("numpy disagrees on " + name)
    print("read_safetensors: %d tensors OK" % len(t))


if __name__ == "__main__":
    main()
