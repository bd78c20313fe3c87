#!/usr/bin/python3
"""NumPy peer for the training benchmarks: the same workloads as train_torch.py, written by
hand (forward, backward, SGD/Adam) the way a careful NumPy user would, in float32.
Usage: train_numpy.py WORKLOAD [STEPS]
"""
import json
import sys
import time

import numpy as np


def init(rng, sizes):
    params = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        a = np.sqrt(6.0 / (i + o))
        params += [rng.uniform(-a, a, (i, o)).astype(np.float32), np.zeros(o, np.float32)]
    return params


def forward_backward(params, x, y, hidden, out):
    """MSE loss and gradients of an MLP with the given hidden and output activations."""
    acts, pre = [x], []
    n = len(params) // 2
    for k in range(n):
        z = acts[-1] @ params[2 * k] + params[2 * k + 1]
        pre.append(z)
        acts.append(hidden(z)[0] if k < n - 1 else out(z)[0])
    diff = acts[-1] - y
    loss = float(np.mean(diff * diff))
    d = (2.0 / diff.size) * diff
    grads = [None] * len(params)
    for k in reversed(range(n)):
        fn = hidden if k < n - 1 else out
        d = d * fn(pre[k])[1]
        grads[2 * k] = acts[k].T @ d
        grads[2 * k + 1] = d.sum(axis=0)
        if k:
            d = d @ params[2 * k].T
    return loss, grads


def tanh(z):
    t = np.tanh(z)
    return t, 1 - t * t


def sigmoid(z):
    s = 1 / (1 + np.exp(-z))
    return s, s * (1 - s)


def relu(z):
    return np.maximum(z, 0), (z > 0).astype(z.dtype)


def ident(z):
    return z, np.ones_like(z)


def main():
    workload = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else (2000 if workload == "xor" else 30)
    rng = np.random.default_rng(0)
    if workload == "xor":
        x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
        y = np.array([[0], [1], [1], [0]], np.float32)
        params, hidden, out = init(rng, [2, 4, 1]), tanh, sigmoid
        lr = 0.5

        def update(grads, t):
            for p, g in zip(params, grads):
                p -= lr * g
    else:
        x = (rng.random((40000, 2)) * 2 - 1).astype(np.float32)
        y = (np.sin(3 * x[:, :1]) * np.cos(3 * x[:, 1:])).astype(np.float32)
        params, hidden, out = init(rng, [2, 64, 64, 64, 1]), relu, ident
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]

        def update(grads, t):
            b1, b2, lr, eps = 0.9, 0.999, 1e-3, 1e-8
            for p, g, mi, vi in zip(params, grads, m, v):
                mi *= b1
                mi += (1 - b1) * g
                vi *= b2
                vi += (1 - b2) * g * g
                mhat = mi / (1 - b1 ** t)
                vhat = vi / (1 - b2 ** t)
                p -= lr * mhat / (np.sqrt(vhat) + eps)

    t = 0

    def step():
        nonlocal t
        t += 1
        loss, grads = forward_backward(params, x, y, hidden, out)
        update(grads, t)
        return loss

    for _ in range(max(3, steps // 10)):
        step()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, (time.perf_counter() - t0) / steps)
    print(json.dumps({"impl": "numpy", "workload": workload, "threads": 0,
                      "us_per_step": best * 1e6, "version": np.__version__}))


if __name__ == "__main__":
    main()
