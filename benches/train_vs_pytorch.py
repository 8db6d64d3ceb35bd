#!/usr/bin/env python3
"""Time to accuracy: `fcn train` against the same network and recipe in PyTorch (CPU), on the
same synthetic transit images, for the same wall-clock time.

    python benches/train_vs_pytorch.py [--config FILE.toml] [--threads 2] [--out DIR]
                                       [--run-dir RUN_DIR]

1. Exports the synthetic training and validation sets of the configuration with
   `fcn data convert --images` (so PyTorch reads exactly our images and labels).
2. Runs `fcn train` with the configuration and reads its evaluations from log.jsonl.
3. Trains pytorch-fcn's FCN-8s (the classes of crates/fcn-core/tests/golden/make_parity.py) with
   the same width, initialisation (Kaiming normal, zero score layers, frozen bilinear
   upsampling), normalisation, optimizer, schedule, batch size, flips and evaluation interval,
   for as long as our run took, evaluating mean IoU (score.py's definition) on the same
   validation images at the same step numbers.
4. Prints both curves (seconds, step, mean IoU) and writes them to OUT/curves.json and
   OUT/curves.svg.
"""
import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FCN = os.path.join(ROOT, "target/release/fcn")


def load_config(path):
    import tomllib
    # `fcn train`'s defaults (crates/fcn-train/src/config/mod.rs); the file overrides them.
    defaults = {"model": {"width_divisor": 8, "preprocess": "imagenet", "arch": "fcn8s"},
                "data": {"synthetic_train": 4000, "synthetic_val": 100},
                "optim": {"lr": 1e-3, "min_lr": 1e-5, "optimizer": "adam", "schedule": "cosine"},
                "train": {"iterations": 2400, "batch_size": 4, "eval_every": 600, "seed": 1337},
                "augment": {"flip": True}}
    if path:
        with open(path, "rb") as f:
            user = tomllib.load(f)
        for section, values in user.items():
            defaults.setdefault(section, {}).update(values)
    return defaults


def read_pairs(folder):
    from PIL import Image
    stems = sorted(f[:-len("_image.png")] for f in os.listdir(folder) if f.endswith("_image.png"))
    images = np.stack([np.array(Image.open(os.path.join(folder, s + "_image.png")).convert("RGB"))
                       for s in stems])
    labels = np.stack([np.array(Image.open(os.path.join(folder, s + ".png"))) for s in stems])
    return images, labels


def normalise(images, preprocess):
    x = images.astype(np.float64)
    if preprocess == "caffe":
        x = x[..., ::-1] - np.array([104.00698793, 116.66876762, 122.67891434])
    else:
        x = (x / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)).astype(np.float32)


def mean_iou(hist):
    with np.errstate(divide="ignore", invalid="ignore"):
        iu = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist))
    return float(np.nanmean(iu))


def pytorch_run(config, train, val, seconds, threads, classes):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    spec = importlib.util.spec_from_file_location(
        "make_parity", os.path.join(ROOT, "crates/fcn-core/tests/golden/make_parity.py"))
    parity = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(parity)
    torch.manual_seed(config["train"]["seed"])
    model = parity.FCN8s(classes, config["model"]["width_divisor"])
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            if name.startswith("score"):
                nn.init.zeros_(m.weight)
            else:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.ConvTranspose2d):
            m.weight.data.copy_(parity.get_upsampling_weight(
                m.in_channels, m.out_channels, m.kernel_size[0]))
            m.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=config["optim"]["lr"])
    total = config["train"]["iterations"]
    base, low = config["optim"]["lr"], config["optim"]["min_lr"]
    prep = config["model"]["preprocess"]
    xs, ys = train
    vx = torch.from_numpy(normalise(val[0], prep))
    vy = val[1]
    batch, every = config["train"]["batch_size"], config["train"]["eval_every"]
    rng = np.random.default_rng(config["train"]["seed"])
    order, pos = rng.permutation(len(xs)), 0
    curve, step, start = [], 0, time.perf_counter()

    def evaluate():
        model.eval()
        hist = np.zeros((classes, classes), dtype=np.int64)
        with torch.no_grad():
            for i in range(len(vx)):
                pred = model(vx[i:i + 1]).argmax(1)[0].numpy()
                gt = vy[i]
                k = gt < classes
                hist += np.bincount(classes * gt[k].astype(int) + pred[k],
                                    minlength=classes ** 2).reshape(classes, classes)
        model.train()
        return mean_iou(hist)

    model.train()
    while step < total and time.perf_counter() - start < seconds:
        if pos + batch > len(order):
            order, pos = rng.permutation(len(xs)), 0
        idx = order[pos:pos + batch]
        pos += batch
        imgs, labs = xs[idx].copy(), ys[idx].copy()
        flip = rng.random(batch) < 0.5
        imgs[flip] = imgs[flip][:, :, ::-1]
        labs[flip] = labs[flip][:, :, ::-1]
        x = torch.from_numpy(normalise(imgs, prep))
        y = torch.from_numpy(labs.astype(np.int64))
        lr = low + (base - low) * (1 + math.cos(math.pi * step / total)) / 2
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y, ignore_index=255)
        loss.backward()
        opt.step()
        step += 1
        if step % every == 0 or step == total:
            elapsed = time.perf_counter() - start
            curve.append({"seconds": elapsed, "step": step, "mean_iou": evaluate()})
            start += time.perf_counter() - start - elapsed  # evaluation time is not training time
            print(f"pytorch step {step}: mean IoU {curve[-1]['mean_iou']:.4f} at {elapsed:.0f} s",
                  flush=True)
    if not curve or curve[-1]["step"] != step:
        curve.append({"seconds": time.perf_counter() - start, "step": step, "mean_iou": evaluate()})
    return curve


def svg(curves, path):
    width, height, pad = 640, 360, 50
    tmax = max(p["seconds"] for c in curves.values() for p in c) or 1
    ymax = max(0.05, max(p["mean_iou"] for c in curves.values() for p in c)) * 1.1
    colors = {"fcn-rs": "#1f77b4", "PyTorch": "#d62728"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - 10}" y2="{height - pad}" stroke="black"/>',
             f'<line x1="{pad}" y1="10" x2="{pad}" y2="{height - pad}" stroke="black"/>',
             f'<text x="{width / 2}" y="{height - 10}" text-anchor="middle">training time (s)</text>',
             f'<text x="12" y="{height / 2}" transform="rotate(-90 12 {height / 2})" text-anchor="middle">validation mean IoU</text>']
    for k in range(6):
        t = tmax * k / 5
        x = pad + (width - pad - 10) * k / 5
        parts.append(f'<text x="{x}" y="{height - pad + 16}" text-anchor="middle" font-size="11">{t:.0f}</text>')
        v = ymax * k / 5
        y = height - pad - (height - pad - 10) * k / 5
        parts.append(f'<text x="{pad - 4}" y="{y + 4}" text-anchor="end" font-size="11">{v:.2f}</text>')
    for i, (name, curve) in enumerate(curves.items()):
        pts = " ".join(f'{pad + (width - pad - 10) * p["seconds"] / tmax:.1f},'
                       f'{height - pad - (height - pad - 10) * p["mean_iou"] / ymax:.1f}' for p in curve)
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{colors[name]}" stroke-width="2"/>')
        parts.append(f'<text x="{pad + 10}" y="{20 + 16 * i}" fill="{colors[name]}">{name}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(ROOT, "target/train_vs_pytorch"))
    parser.add_argument("--run-dir", help="reuse a finished `fcn train` run of this configuration")
    args = parser.parse_args()
    config = load_config(args.config)
    os.makedirs(args.out, exist_ok=True)
    subprocess.run(["cargo", "build", "--quiet", "--release"], cwd=ROOT, check=True)
    for split in ["train", "val"]:
        folder = os.path.join(args.out, split)
        if not os.path.isdir(folder):
            subprocess.run([FCN, "data", "convert", "--format", "synthetic", "--split", split,
                            "--images", "--out", folder], check=True, stdout=subprocess.DEVNULL)
    run_dir = args.run_dir
    if run_dir is None:
        run_dir = os.path.join(args.out, f"run-{int(time.time())}")
        cmd = [FCN, "--threads", str(args.threads), "train", "--out", run_dir]
        if args.config:
            cmd += ["--config", args.config]
        subprocess.run(cmd, check=True)
    ours = []
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        records = [json.loads(line) for line in f]
    # Our log's elapsed time includes evaluations; subtract them like the PyTorch side does.
    eval_time, last = 0.0, 0.0
    for r in records:
        if r["kind"] == "step":
            last = r["elapsed_s"]
        elif r["kind"] == "eval":
            ours.append({"seconds": last - eval_time, "step": r["step"],
                         "mean_iou": r["report"]["mean_iou"]})
            eval_time += r["elapsed_s"] - last
            last = r["elapsed_s"]
    seconds = ours[-1]["seconds"]
    train = read_pairs(os.path.join(args.out, "train"))
    val = read_pairs(os.path.join(args.out, "val"))
    theirs = pytorch_run(config, train, val, seconds, args.threads, classes=20)
    curves = {"fcn-rs": ours, "PyTorch": theirs}
    with open(os.path.join(args.out, "curves.json"), "w") as f:
        json.dump(curves, f, indent=1)
    svg(curves, os.path.join(args.out, "curves.svg"))
    print(f"{'':8}{'seconds':>9}{'step':>7}{'mean IoU':>10}")
    for name, curve in curves.items():
        for p in curve:
            print(f"{name:8}{p['seconds']:>9.0f}{p['step']:>7}{p['mean_iou']:>10.4f}")


if __name__ == "__main__":
    main()
