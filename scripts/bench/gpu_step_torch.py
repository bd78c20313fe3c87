#!/usr/bin/env python3
"""PyTorch CUDA eager peer of bench_gpu_step.c: the 40,000-point 2-64-64-64-1 ReLU network,
MSE, Adam lr 1e-3, full batch, f32, one step = zero_grad, forward, loss, backward, step, and the
loss read back as a Python float (as il_net_step returns it). Prints one JSON line per TF32
setting, like bench_gpu_step. Usage: gpu_step_torch.py [STEPS]
"""
import json
import sys
import time

import torch


def run(steps, tf32):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(40000, 2, generator=g) * 2 - 1).cuda()
    y = (torch.sin(3 * x[:, :1]) * torch.cos(3 * x[:, 1:])).cuda()
    layers, width = [], 2
    for _ in range(3):
        layers += [torch.nn.Linear(width, 64), torch.nn.ReLU()]
        width = 64
    net = torch.nn.Sequential(*layers, torch.nn.Linear(64, 1)).cuda()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    first = step()
    for _ in range(19):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        last = step()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    print(json.dumps({"impl": "torch-eager", "device": "cuda", "workload": "mlp40k",
                      "tf32": int(tf32), "steps": steps, "ms_per_step": 1e3 * dt / steps,
                      "loss_first": first, "loss_last": last, "torch": torch.__version__}))


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    if not torch.cuda.is_available():
        print(json.dumps({"impl": "torch-eager", "skipped": "torch.cuda is not available"}))
        return
    run(steps, False)
    run(steps, True)


if __name__ == "__main__":
    main()
