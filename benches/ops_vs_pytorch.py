#!/usr/bin/env python3
"""Times the `fcn bench ops` cases in PyTorch (CPU, 2 threads) and in fcn-tensor, in one run.

    python benches/ops_vs_pytorch.py [--repeats 10] [--threads 2]

Runs `fcn bench ops --json` (release build), then the same cases in PyTorch with the same
shapes, and prints both medians and the ratio (PyTorch time / ours: above 1 means we are
faster). Needs torch.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F


def median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def pytorch_cases(repeats):
    torch.manual_seed(0)
    out = {}
    a, b = torch.rand(1024, 1024), torch.rand(1024, 1024)
    out["sgemm_1024"] = median_time(lambda: a @ b, repeats)

    x = torch.rand(1, 64, 128, 128) * 2 - 1
    w = torch.rand(64, 64, 3, 3) * 2 - 1
    bias = torch.rand(64)
    with torch.no_grad():
        out["conv3x3_fwd"] = median_time(lambda: F.conv2d(x, w, bias, padding=1), repeats)
    gy = torch.rand(1, 64, 128, 128)

    # Backward alone, on one recorded graph: input, weight and bias gradients, as
    # fcn-tensor's conv2d_backward computes them.
    xg = x.detach().requires_grad_(True)
    wg = w.detach().requires_grad_(True)
    bg = bias.detach().requires_grad_(True)
    y = F.conv2d(xg, wg, bg, padding=1)
    out["conv3x3_bwd"] = median_time(
        lambda: torch.autograd.grad(y, (xg, wg, bg), gy, retain_graph=True), repeats)

    score = torch.rand(1, 21, 64, 64)
    up = torch.rand(21, 21, 16, 16)
    with torch.no_grad():
        out["convT_k16s8_fwd"] = median_time(lambda: F.conv_transpose2d(score, up, stride=8), repeats)
        feats = torch.rand(1, 64, 355, 355) * 2 - 1
        out["maxpool_ceil_fwd"] = median_time(
            lambda: F.max_pool2d(feats, 2, 2, ceil_mode=True, return_indices=True), repeats)
    logits = torch.rand(1, 21, 512, 512) * 2 - 1
    target = torch.randint(0, 22, (1, 512, 512))
    target[target == 21] = 255

    def xent():
        z = logits.detach().requires_grad_(True)
        F.cross_entropy(z, target, ignore_index=255, reduction="sum").backward()

    out["xent_fwd_bwd"] = median_time(xent, repeats)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ops.json")
        subprocess.run(["cargo", "run", "--quiet", "--release", "--", "--threads", str(args.threads),
                        "bench", "ops", "--repeats", str(args.repeats), "--json", path],
                       cwd=root, check=True, stdout=sys.stderr)
        with open(path) as f:
            ours = json.load(f)
    torch.set_num_threads(args.threads)
    theirs = pytorch_cases(args.repeats)
    print(f"cpu: {ours['cpu']}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"fcn-tensor {ours['threads']} threads")
    print(f"{'case':<18} {'ours ms':>9} {'torch ms':>9} {'ours GFLOP/s':>13} {'torch GFLOP/s':>14} {'speed-up':>9}")
    for case in ours["cases"]:
        name, ms = case["name"], case["median_s"] * 1e3
        torch_ms = theirs[name] * 1e3
        flops = case.get("flops")
        ours_g = f"{flops / case['median_s'] / 1e9:.1f}" if flops else "-"
        torch_g = f"{flops / theirs[name] / 1e9:.1f}" if flops else "-"
        print(f"{name:<18} {ms:>9.2f} {torch_ms:>9.2f} {ours_g:>13} {torch_g:>14} {torch_ms / ms:>8.2f}x")


if __name__ == "__main__":
    main()
