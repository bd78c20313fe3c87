#!/usr/bin/env python3
"""Where a wide workload's step goes: each matrix product of one training step, timed alone.

mlp474 (the 474x474 grid, 2-256-256-256-1) spends nearly all of its step in cuBLAS products,
on both sides (docs/benchmarks.md), so this times those products one by one, through torch.mm
and torch.bmm, which call the same cuBLAS routines as iron-learn's CUDA backend. For each
linear layer (in -> out) over B rows:

  fwd   (B, in) x (in, out)       the forward product
  dX    (B, out) x (out, in)      the input gradient (not for the first layer)
  dW    (out, B) x (B, in)        the weight gradient: a small output, a reduction over all B
  dW/c  the same split into c slices of the rows: one strided-batched product into c partial
        (out, in) results, then their sum; the split-K that cuBLAS may or may not choose

The sum of the plain products is what one step's products cost; beside the measured step time
it says how much is left for everything else. The dW/c rows say whether splitting the weight
gradient ourselves would beat cuBLAS's own choice for these shapes.

Times are medians of 5 rounds of CUDA-event timing after a warm-up, f32 with TF32 off and on.
Prints one JSON line per product ("product": name); table.py turns them into a table.
Usage: products.py [--quick] [WORKLOAD...]  (default mlp474; also mlp40k, siren65k)
On a machine without CUDA it runs on the CPU with B cut to 4,096 rows (a smoke test of the
script; the times mean nothing there).
"""
import statistics
import sys
import time

import torch

# CUDA-event timing and the workloads, shared with the step benchmark
from torch_peers import WORKLOADS, emit, time_steps

# name: (rows, widths) of the wide workloads
WIDTHS = {k: v[:2] for k, v in WORKLOADS.items() if k != "xor"}
SPLITS = (4, 16, 64, 256)


def timed(fn, reps, dev, rounds=5, warmup=3):
    """Median, min and max ms per call of fn over `rounds` rounds of `reps` calls."""
    if dev == "cuda":
        return time_steps(fn, reps, rounds, warmup)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        times.append((time.perf_counter() - t) * 1e3 / reps)
    return statistics.median(times), min(times), max(times)


def split_dw(g, a, c):
    """g^T a with the rows cut into c equal slices (a remainder, if any, added after)."""
    rows = g.shape[0] // c * c
    part = torch.bmm(g[:rows].view(c, -1, g.shape[1]).transpose(1, 2),
                     a[:rows].view(c, -1, a.shape[1])).sum(0)
    if rows < g.shape[0]:
        part += g[rows:].t() @ a[rows:]
    return part


def layer_products(b, fin, fout, first, dev):
    """(name, m, n, k, fn) for one layer's products; inputs random, as only shapes matter."""
    x = torch.randn(b, fin, device=dev)
    w = torch.randn(fout, fin, device=dev)
    g = torch.randn(b, fout, device=dev)
    tag = "%dx%d" % (fin, fout)
    out = [("fwd " + tag, b, fout, fin, lambda: x @ w.t())]
    if not first:
        out.append(("dX " + tag, b, fin, fout, lambda: g @ w))
    out.append(("dW " + tag, fout, fin, b, lambda: g.t() @ x))
    ref = (g.t() @ x).double()
    for c in SPLITS:
        if b // c < 64:
            continue
        err = ((split_dw(g, x, c).double() - ref).norm() / ref.norm()).item()
        if not err < 1e-3:  # a wrong split must not be timed as if it were right
            sys.exit("products.py: split dW over %d slices is off by %.3g" % (c, err))
        out.append(("dW/%d %s" % (c, tag), fout, fin, b, lambda c=c: split_dw(g, x, c)))
    return out


def run(name, tf32, quick, dev):
    b, widths = WIDTHS[name]
    if dev == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = tf32
    else:
        b = 4096
    total = 0.0
    for i in range(len(widths) - 1):
        for pname, m, n, k, fn in layer_products(b, widths[i], widths[i + 1], i == 0, dev):
            med, lo, hi = timed(fn, 3 if quick else 10, dev)
            plain = "/" not in pname
            if plain:
                total += med
            emit(product=pname, workload=name, layer=i, tf32=int(tf32), rows=b, m=m, n=n, k=k,
                 ms=med, ms_min=lo, ms_max=hi, tflop_per_s=2 * m * n * k / (med * 1e-3) / 1e12,
                 in_step=plain, device=dev)
    emit(product="sum of the step's products", workload=name, tf32=int(tf32), rows=b, ms=total,
         in_step=False, device=dev)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    unknown = [a for a in args if a not in WIDTHS]
    if unknown:
        sys.exit("products.py: unknown workload(s) %s; known: %s"
                 % (", ".join(unknown), ", ".join(WIDTHS)))
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    for name in args or ["mlp474"]:
        for tf32 in (False, True) if dev == "cuda" else (False,):
            run(name, tf32, "--quick" in sys.argv, dev)


if __name__ == "__main__":
    main()
