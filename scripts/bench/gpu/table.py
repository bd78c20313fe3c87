#!/usr/bin/env python3
"""Markdown tables from the JSON lines of bench_gpu.c and torch_peers.py (issue 9).

Reads every file named (or stdin), skips lines that are not JSON objects, and prints:
  1. per workload and TF32 setting, ms/step of iron-learn (eager, graph) and PyTorch (eager,
     graph), and the ratios torch eager / ours graph and torch graph / ours graph (above 1:
     iron-learn is faster);
  2. the floors: FLOPs over the measured sgemm peak (the TF32 peak for TF32 rows), bytes over
     the measured copy bandwidth, launches times the measured launch cost; the largest of the
     three is the floor, and measured / floor for iron-learn and PyTorch;
  3. iron-learn's per-step backend counts, 4. the parity lines of bench_gpu --parity, and
  5. products.py's lines (each product of a step timed alone).
Formulas (also in docs/benchmarks.md), per training step, B rows, linear layers l with in_l
inputs and out_l outputs, P parameters, 4-byte floats:
  FLOPs    = sum_l 2 B in_l out_l * (2 for the first layer, 3 for the others: forward, weight
             gradient, input gradient)
  bytes    = 4 * (B in_0 + B out_last           input and target read once
                  + sum_l 4 B out_l             activation written and read, its gradient
                                                written and read, once each
                  + 4 P                         parameters read and written, gradients
                                                written and read
                  + 4 P for Adam)               m and v read and written
  launches = (launches_per_step - graphs_per_step) * eager launch cost
             + graph_nodes_per_step * graph node cost
             (iron-learn's counts of the same mode; replayed graphs are launched back to
             back while the device works, so their nodes are what costs; the eager cost is
             torch_peers.py's, one tiny op from Python, an upper estimate of a raw launch)
Usage: table.py FILE.jsonl... (stdlib only)
"""
import json
import sys

# name: (rows, widths, optimizer); as bench_gpu.c and torch_peers.py
WORKLOADS = {
    "xor": (4, [2, 4, 1], "sgd"),
    "mlp40k": (40000, [2, 64, 64, 64, 1], "adam"),
    "mlp474": (474 * 474, [2, 256, 256, 256, 1], "adam"),
    "siren65k": (65536, [2, 256, 256, 256, 256, 1], "adam"),
}


def flops(name):
    b, w, _ = WORKLOADS[name]
    return sum(2 * b * w[i] * w[i + 1] * (2 if i == 0 else 3) for i in range(len(w) - 1))


def nbytes(name):
    b, w, opt = WORKLOADS[name]
    p = sum(w[i] * w[i + 1] + w[i + 1] for i in range(len(w) - 1))
    acts = sum(4 * b * w[i + 1] for i in range(len(w) - 1))
    return 4 * (b * w[0] + b * w[-1] + acts + 4 * p + (4 * p if opt == "adam" else 0))


def load(paths):
    recs = []
    files = [open(p) for p in paths] if paths else [sys.stdin]
    for f in files:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if isinstance(r, dict):
                recs.append(r)
    return recs


def fmt(v, digits=3):
    if v is None:
        return "-"
    if v == 0:
        return "0"
    return "%.*g" % (digits, v)


def ratio(a, b):
    return a / b if a is not None and b else None


def index(recs):
    """(workload, tf32) -> {"ours-eager": rec, "ours-graph": rec, "torch-eager": rec, ...}"""
    runs, ceil = {}, {}
    for r in recs:
        if "ceiling" in r:
            key = r["ceiling"] + ("-tf32" if r.get("tf32") else "")
            ceil[key] = r
        elif r.get("impl") == "iron-learn" and "workload" in r:
            runs.setdefault((r["workload"], int(r.get("tf32", 0))), {})["ours-" + r["mode"]] = r
        elif r.get("impl") in ("torch-eager", "torch-graph") and "workload" in r:
            runs.setdefault((r["workload"], int(r.get("tf32", 0))), {})[r["impl"]] = r
    return runs, ceil


def order(runs):
    names = list(WORKLOADS)
    return sorted(runs, key=lambda k: (names.index(k[0]) if k[0] in names else 99, k))


def ms(run, key):
    return run[key]["ms_per_step"] if key in run else None


def times_table(runs):
    out = ["| workload | tf32 | ours eager | ours graph | torch eager | torch graph "
           "| torch eager / ours graph | torch graph / ours graph |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for k in order(runs):
        r = runs[k]
        og = ms(r, "ours-graph")
        out.append("| %s | %d | %s | %s | %s | %s | **%s** | **%s** |" % (
            k[0], k[1], fmt(ms(r, "ours-eager")), fmt(og), fmt(ms(r, "torch-eager")),
            fmt(ms(r, "torch-graph")), fmt(ratio(ms(r, "torch-eager"), og)),
            fmt(ratio(ms(r, "torch-graph"), og))))
    return out


def launch_floor(rec, ceil):
    """ms of launches for iron-learn's counts in rec, or None without the counts or costs."""
    if rec is None or "launches_per_step" not in rec or "launch-eager" not in ceil:
        return None
    # graph launches replay back to back while the device runs: their nodes are the cost
    eager = rec["launches_per_step"] - rec.get("graphs_per_step", 0)
    us = eager * ceil["launch-eager"]["us"]
    nodes = rec.get("graph_nodes_per_step", 0)
    if nodes:
        if "launch-graph" not in ceil:
            return None
        us += nodes * ceil["launch-graph"]["us"]
    return us * 1e-3


def floors(name, tf32, rec, ceil):
    """(flop ms, byte ms, launch ms, floor ms, bound) for one workload and iron-learn run."""
    peak = ceil.get("sgemm-tf32" if tf32 else "sgemm")
    f = flops(name) / (peak["tflop_per_s"] * 1e12) * 1e3 if peak else None
    bw = ceil.get("copy")
    b = nbytes(name) / (bw["tb_per_s"] * 1e12) * 1e3 if bw else None
    lf = launch_floor(rec, ceil)
    parts = [(v, n) for v, n in ((f, "FLOPs"), (b, "bytes"), (lf, "launches")) if v is not None]
    if not parts:
        return f, b, lf, None, "-"
    top = max(parts)
    return f, b, lf, top[0], top[1]


def floor_table(runs, ceil):
    out = ["| workload | tf32 | GFLOP | FLOP floor | MB | byte floor | launches (graph nodes) "
           "| launch floor | floor (bound) | ours graph / floor | torch graph / floor "
           "| ours eager / eager floor |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for k in order(runs):
        if k[0] not in WORKLOADS:
            continue
        r = runs[k]
        g = r.get("ours-graph")
        f, b, lf, floor, bound = floors(k[0], k[1], g, ceil)
        e = r.get("ours-eager")
        ef = floors(k[0], k[1], e, ceil)[3]
        counts = "-"
        if g is not None and "launches_per_step" in g:
            counts = "%s (%s)" % (fmt(g["launches_per_step"]), fmt(g.get("graph_nodes_per_step")))
        out.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s (%s) | **%s** | %s | %s |" % (
            k[0], k[1], fmt(flops(k[0]) / 1e9), fmt(f), fmt(nbytes(k[0]) / 1e6), fmt(b),
            counts, fmt(lf), fmt(floor), bound, fmt(ratio(ms(r, "ours-graph"), floor)),
            fmt(ratio(ms(r, "torch-graph"), floor)), fmt(ratio(ms(r, "ours-eager"), ef))))
    return out


def counts_table(runs):
    out = ["| workload | tf32 | mode | ms min-max | launches | graphs | graph nodes | syncs "
           "| d2h | mallocs | h2d | last step | loss after |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    how = {0: "eager", 1: "captured", 2: "replayed"}
    for k in order(runs):
        for mode in ("eager", "graph"):
            x = runs[k].get("ours-" + mode)
            if x is None:
                continue
            d2h = x.get("d2h_per_step")
            span = "-" if x.get("ms_min") is None else "%s-%s" % (
                fmt(x.get("ms_min")), fmt(x.get("ms_max")))
            out.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                k[0], k[1], mode, span,
                fmt(x.get("launches_per_step")), fmt(x.get("graphs_per_step")),
                fmt(x.get("graph_nodes_per_step")), fmt(x.get("syncs_per_step")), fmt(d2h),
                fmt(x.get("mallocs")), fmt(x.get("h2d")),
                how.get(x.get("last_step_graph"), "-"),
                fmt(x.get("loss_after"), 4)))
    return out


def parity_table(recs):
    """bench_gpu --parity lines: CUDA against the CPU, and the CPU's own rounding spread."""
    rows = [r for r in recs if "parity" in r]
    if not rows:
        return []
    out = ["| workload | rows | steps | rel L2, step 1 | rel L2, last | CPU spread | bound "
           "| loss cpu | loss cuda | loss spread | fixed 1e-3 | pass |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    yes = lambda v: "-" if v is None else "yes" if v else "**NO**"
    for r in rows:
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["parity"], r.get("rows"), r.get("steps"), fmt(r.get("rel_l2_first"), 2),
            fmt(r.get("rel_l2"), 2), fmt(r.get("cpu_spread"), 2), fmt(r.get("bound"), 2),
            fmt(r.get("loss_cpu"), 5), fmt(r.get("loss_cuda"), 5),
            fmt(r.get("cpu_loss_spread"), 2), yes(r.get("pass_fixed")), yes(r.get("pass"))))
    return out


def products_table(recs, runs):
    """products.py lines: each product of a step alone, and their sum beside the step."""
    rows = [r for r in recs if "product" in r]
    if not rows:
        return []
    out = ["| workload | tf32 | product | M x N x K | ms | TFLOP/s | share of our graph step |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        step = runs.get((r.get("workload"), int(r.get("tf32", 0))), {}).get("ours-graph", {})
        share = (r["ms"] / step["ms_per_step"] if step.get("ms_per_step") and
                 (r.get("in_step") or "sum" in r["product"]) else None)
        dims = ("%s x %s x %s" % (r["m"], r["n"], r["k"])) if "m" in r else "-"
        out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            r.get("workload"), r.get("tf32"), r["product"], dims, fmt(r.get("ms")),
            fmt(r.get("tflop_per_s")), "-" if share is None else "%.0f%%" % (100 * share)))
    return out


def main():
    recs = load(sys.argv[1:])
    runs, ceil = index(recs)
    env = [r for r in recs if "gpu" in r]
    lines = []
    if env:
        lines.append("GPU: %s, torch %s" % (env[0].get("gpu"), env[0].get("torch")))
    if ceil:
        c = lambda k, f, u: "%s %s" % (fmt(ceil[k][f]), u) if k in ceil else "-"
        lines.append("Ceilings: copy %s, sgemm %s (TF32 %s), launch %s eager, %s per graph node"
                     % (c("copy", "tb_per_s", "TB/s"), c("sgemm", "tflop_per_s", "TFLOP/s"),
                        c("sgemm-tf32", "tflop_per_s", "TFLOP/s"), c("launch-eager", "us", "us"),
                        c("launch-graph", "us", "us")))
    lines += ["", "ms per training step (median of 5 rounds):", ""] + times_table(runs)
    lines += ["", "Floors (ms per step; launches from iron-learn's graph-mode counts):", ""]
    lines += floor_table(runs, ceil)
    lines += ["", "iron-learn per step (backend counters):", ""] + counts_table(runs)
    p = parity_table(recs)
    if p:
        lines += ["", "CPU vs CUDA (graph mode, TF32 off) after training, and the CPU's own "
                  "spread (rows reversed; initial weights one ulp up):", ""] + p
    q = products_table(recs, runs)
    if q:
        lines += ["", "Each product of a step alone (products.py; dW/c: the weight gradient split "
                  "into c slices of rows, then summed):", ""] + q
    print("\n".join(lines))
    return 1 if any(r.get("pass") is False for r in recs if "parity" in r) else 0


if __name__ == "__main__":
    sys.exit(main())
