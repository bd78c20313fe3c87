#!/usr/bin/env python3
"""PyTorch CUDA peers of iron-learn's GPU workloads (issue 9), plus the machine's ceilings.

For each workload and TF32 setting, one training step (zero_grad, forward, loss, backward,
optimizer step) is timed two ways: eager, and captured once as a CUDA graph and replayed
(Adam with capturable=True). The loss is not read back inside the timed loop (iron-learn's
graph mode reads it only when asked). Times are the median of 5 rounds, each round timed
with CUDA events over many steps after a warm-up.

Steps per round as bench_gpu.c's (xor 2000, mlp40k 300, the others 50; --quick a fifth),
20 warm-up steps; xor runs without TF32 only. Networks as bench_gpu.c's: nn.Linear's default
init, and for siren65k the SIREN init (first layer U(-1/in, 1/in), the others
U(-sqrt(6/in)/30, sqrt(6/in)/30), biases as nn.Linear's), as il.nn.siren.

Ceilings (for the floors in docs/benchmarks.md): a large device-to-device copy (bytes read
plus written), an 8192^3 float32 matrix product with and without TF32, and the cost of one
kernel launch inside a replayed graph and eagerly (--no-ceilings skips them).

Prints one JSON line per measurement.
Usage: torch_peers.py [--quick] [--no-ceilings] [WORKLOAD...]
"""
import json
import math
import statistics
import sys

import torch

from table import flops  # FLOPs per training step (stdlib only, same folder)

WORKLOADS = {
    # name: (points, widths, activation, optimizer, lr)
    "xor": (4, [2, 4, 1], "tanh-sigmoid", "sgd", 0.5),
    "mlp40k": (40000, [2, 64, 64, 64, 1], "relu", "adam", 1e-3),
    "mlp474": (474 * 474, [2, 256, 256, 256, 1], "relu", "adam", 1e-3),
    "siren65k": (65536, [2, 256, 256, 256, 256, 1], "sine", "adam", 1e-4),
}


def emit(**kw):
    print(json.dumps(kw), flush=True)


class Sine(torch.nn.Module):
    def __init__(self, w0):
        super().__init__()
        self.w0 = w0

    def forward(self, x):
        return torch.sin(self.w0 * x)


def make(name):
    n, widths, act, optname, lr = WORKLOADS[name]
    g = torch.Generator().manual_seed(0)
    if name == "xor":
        x = torch.tensor([[0., 0.], [0., 1.], [1., 0.], [1., 1.]])
        y = torch.tensor([[0.], [1.], [1.], [0.]])
    elif name == "mlp474":
        t = torch.linspace(-1, 1, 474)
        x = torch.stack(torch.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
        y = torch.sin(3 * x[:, :1]) * torch.cos(3 * x[:, 1:])
    else:
        x = torch.rand(n, 2, generator=g) * 2 - 1
        y = torch.sin(3 * x[:, :1]) * torch.cos(3 * x[:, 1:])
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        last = i == len(widths) - 2
        if act == "relu" and not last:
            layers.append(torch.nn.ReLU())
        elif act == "sine" and not last:
            layers.append(Sine(30.0))
        elif act == "tanh-sigmoid":
            layers.append(torch.nn.Sigmoid() if last else torch.nn.Tanh())
    if act == "sine":
        with torch.no_grad():
            lin = [m for m in layers if isinstance(m, torch.nn.Linear)]
            for i, m in enumerate(lin):
                a = 1 / m.in_features if i == 0 else math.sqrt(6 / m.in_features) / 30.0
                m.weight.uniform_(-a, a, generator=g)
    net = torch.nn.Sequential(*layers).cuda()
    return net, x.cuda(), y.cuda(), optname, lr


def time_steps(fn, steps, rounds=5, warmup=20):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(rounds):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(steps):
            fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / steps)
    return statistics.median(times), min(times), max(times)


def run(name, tf32, steps):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.manual_seed(0)
    net, x, y, optname, lr = make(name)
    loss_fn = torch.nn.MSELoss()

    def new_opt(capturable):
        if optname == "adam":
            return torch.optim.Adam(net.parameters(), lr=lr, capturable=capturable)
        return torch.optim.SGD(net.parameters(), lr=lr)

    opt = new_opt(False)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return loss

    med, lo, hi = time_steps(step, steps)
    loss_last = step().item()
    emit(impl="torch-eager", mode="eager", workload=name, tf32=int(tf32), steps=steps,
         ms_per_step=med, ms_min=lo, ms_max=hi, loss_after=loss_last,
         gflop_per_step=flops(name) / 1e9)

    torch.manual_seed(0)
    net, x, y, optname, lr = make(name)
    opt = new_opt(True)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            loss_fn(net(x), y).backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        static_loss = loss_fn(net(x), y)
        static_loss.backward()
        opt.step()
    med, lo, hi = time_steps(graph.replay, steps)
    emit(impl="torch-graph", mode="graph", workload=name, tf32=int(tf32), steps=steps,
         ms_per_step=med, ms_min=lo, ms_max=hi, loss_after=static_loss.item())


def ceilings():
    n = 1 << 28  # 1 GiB of float32
    a = torch.empty(n, device="cuda").uniform_()
    b = torch.empty_like(a)
    med, _, _ = time_steps(lambda: b.copy_(a), 20, warmup=5)
    emit(ceiling="copy", tb_per_s=2 * 4 * n / (med * 1e-3) / 1e12)
    del a, b
    m = 8192
    for tf32 in (False, True):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        p = torch.randn(m, m, device="cuda")
        q = torch.randn(m, m, device="cuda")
        med, _, _ = time_steps(lambda: p @ q, 5, warmup=3)
        emit(ceiling="sgemm", tf32=int(tf32), tflop_per_s=2 * m ** 3 / (med * 1e-3) / 1e12)
    z = torch.zeros(1, device="cuda")
    med, _, _ = time_steps(lambda: z.add_(1), 1000)
    emit(ceiling="launch-eager", us=med * 1e3)
    graph = torch.cuda.CUDAGraph()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        z.add_(1)
    torch.cuda.current_stream().wait_stream(s)
    with torch.cuda.graph(graph):
        for _ in range(100):
            z.add_(1)
    med, _, _ = time_steps(graph.replay, 50)
    emit(ceiling="launch-graph", us=med * 1e3 / 100)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quick = "--quick" in sys.argv
    if not torch.cuda.is_available():
        emit(impl="torch", skipped="torch.cuda is not available")
        return
    unknown = [a for a in args if a not in WORKLOADS]
    if unknown:
        sys.exit("torch_peers.py: unknown workload(s) %s; known: %s"
                 % (", ".join(unknown), ", ".join(WORKLOADS)))
    emit(torch=torch.__version__, gpu=torch.cuda.get_device_name())
    if "--no-ceilings" not in sys.argv:
        ceilings()
    for name in args or list(WORKLOADS):
        steps = {"xor": 2000, "mlp40k": 300}.get(name, 50)
        if quick:
            steps = (steps + 4) // 5
        for tf32 in (False,) if name == "xor" else (False, True):
            run(name, tf32, steps)


if __name__ == "__main__":
    main()
