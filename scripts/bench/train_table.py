#!/usr/bin/python3
"""Turns run_train.sh's JSON lines into a markdown table with ratios against iron-learn.
For each workload: iron-learn's best thread count, PyTorch at 1 and 2 threads and at its best,
and NumPy. A ratio above 1 means iron-learn is faster."""
import json
import sys


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    print("| workload | implementation | threads | µs/step | iron-learn faster by |")
    print("| --- | --- | --- | --- | --- |")
    for w in ("xor", "mlp40k"):
        mine = [r for r in rows if r["workload"] == w and r["impl"] == "iron-learn"]
        best = min(r["us_per_step"] for r in mine)
        for r in sorted((r for r in rows if r["workload"] == w),
                        key=lambda r: (r["impl"] != "iron-learn", r["impl"], r["threads"])):
            ratio = r["us_per_step"] / best
            print(f"| {w} | {r['impl']} | {r['threads'] or '-'} | {r['us_per_step']:.2f} | "
                  f"{'' if r['impl'] == 'iron-learn' else f'{ratio:.1f}x'} |")
        torch_best = min(r["us_per_step"] for r in rows
                         if r["workload"] == w and r["impl"] == "pytorch")
        print(f"| {w} | **PyTorch at its best thread count vs iron-learn at its best** | | | "
              f"**{torch_best / best:.1f}x** |")


if __name__ == "__main__":
    main()
