#!/usr/bin/env python3
"""Times an FCN training step and forward pass in PyTorch (CPU) and in fcn-core, in one run.

    python benches/model_vs_pytorch.py [--arch fcn8s] [--width-divisor 1] [--train-size 512]
                                       [--forward-size 224] [--repeats 3] [--threads 2]

The PyTorch model is pytorch-fcn's, layer for layer (the classes of
crates/fcn-core/tests/golden/make_parity.py), trained the same way: batch 1, summed
cross-entropy over pixels / batch, SGD momentum 0.99, weight decay 5e-4 with the reference
parameter groups, dropout on (train mode) for the step, eval mode for the forward pass. Each
side runs in its own process, so the peak resident memory (VmHWM) of each is its own. Prints
both medians and the ratio (PyTorch time / ours: above 1 means we are faster), and the
throughput of each in GFLOP/s, from the FLOPs PyTorch's `FlopCounterMode` counts in the same
step and pass (convolutions and matrix products, forward and backward).
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def peak_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return None


def torch_side(args):
    import torch

    torch.set_num_threads(args.threads)
    spec = importlib.util.spec_from_file_location(
        "make_parity", os.path.join(ROOT, "crates/fcn-core/tests/golden/make_parity.py"))
    parity = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(parity)
    cls = {"fcn32s": parity.FCN32s, "fcn16s": parity.FCN16s, "fcn8s": parity.FCN8s}[args.arch]
    torch.manual_seed(0)
    model = cls(args.num_classes, args.width_divisor)
    for m in model.modules():
        if isinstance(m, torch.nn.ConvTranspose2d):
            m.weight.data.copy_(parity.get_upsampling_weight(
                m.in_channels, m.out_channels, m.kernel_size[0]))
            m.weight.requires_grad_(False)
    parity.LR = 1e-10
    opt = parity.sgd_groups(model)
    x = torch.rand(1, 3, args.train_size, args.train_size) * 255 - 117
    target = torch.randint(0, args.num_classes, (1, args.train_size, args.train_size))

    def train_step():
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = parity.cross_entropy2d(model(x), target) / 1
        loss.backward()
        opt.step()

    xf = torch.rand(1, 3, args.forward_size, args.forward_size) * 255 - 117

    def forward():
        model.eval()
        with torch.no_grad():
            model(xf)

    def median(fn):
        fn()
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    result = {"train_step_s": median(train_step), "forward_s": median(forward)}
    result["peak_rss_mib"] = peak_rss_mib()
    # Counted after the timing, so the counter's overhead is not timed.
    from torch.utils.flop_counter import FlopCounterMode

    def gflop(fn):
        with FlopCounterMode(display=False) as counter:
            fn()
        return counter.get_total_flops() / 1e9

    result["train_step_gflop"] = gflop(train_step)
    result["forward_gflop"] = gflop(forward)
    result["torch"] = torch.__version__
    result["threads"] = torch.get_num_threads()
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", default="fcn8s", choices=["fcn32s", "fcn16s", "fcn8s"])
    parser.add_argument("--width-divisor", type=int, default=1)
    parser.add_argument("--num-classes", type=int, default=21)
    parser.add_argument("--train-size", type=int, default=512)
    parser.add_argument("--forward-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--torch-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_only:
        torch_side(args)
        return
    common = ["--arch", args.arch, "--width-divisor", str(args.width_divisor),
              "--num-classes", str(args.num_classes), "--train-size", str(args.train_size),
              "--forward-size", str(args.forward_size), "--repeats", str(args.repeats)]
    subprocess.run(["cargo", "build", "--quiet", "--release"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ours.json")
        subprocess.run([os.path.join(ROOT, "target/release/fcn"), "--threads", str(args.threads),
                        "bench", "model", *common, "--json", out], check=True,
                       stdout=subprocess.DEVNULL)
        with open(out) as f:
            ours = json.load(f)
    theirs = json.loads(subprocess.run(
        [sys.executable, __file__, "--torch-only", "--threads", str(args.threads), *common],
        check=True, capture_output=True, text=True).stdout)
    print(f"{args.arch}, width / {args.width_divisor}, {args.num_classes} classes; cpu: {ours['cpu']}; "
          f"fcn-core {ours['threads']} threads, torch {theirs['torch']} {theirs['threads']} threads")
    print(f"{'case':<34}{'ours':>10}{'PyTorch':>10}{'ratio':>8}{'GFLOP':>8}"
          f"{'ours GFLOP/s':>14}{'PyTorch GFLOP/s':>17}")
    for key, label in [("train_step", f"train step 3x{args.train_size}^2 (s)"),
                       ("forward", f"forward 3x{args.forward_size}^2 (s)")]:
        t_ours, t_theirs, work = ours[key + "_s"], theirs[key + "_s"], theirs[key + "_gflop"]
        print(f"{label:<34}{t_ours:>10.3f}{t_theirs:>10.3f}{t_theirs / t_ours:>7.2f}x{work:>8.0f}"
              f"{work / t_ours:>14.1f}{work / t_theirs:>17.1f}")
    print(f"{'peak resident memory (MiB)':<34}{ours['peak_rss_mib']:>10.0f}{theirs['peak_rss_mib']:>10.0f}"
          f"{theirs['peak_rss_mib'] / ours['peak_rss_mib']:>7.2f}x")


if __name__ == "__main__":
    main()
