#!/usr/bin/env python3
"""End to end: `fcn eval` against the usual Python loop (PIL + score.py's fast_hist) on one folder.

    python benches/eval_vs_python.py [--images 200] [--side 512]

Writes the synthetic 21-class label maps of `fcn bench metrics --dump` as palette PNGs (ground
truth) and 8-bit grayscale PNGs (predictions) into a temporary folder, then times, on the same
files: `fcn eval` (release build, all cores, wall clock of the whole process) and a Python loop
that opens each pair with PIL, converts to numpy and accumulates fast_hist. Checks that both
give the same mean IoU and prints the times. Needs numpy and pillow.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image


def fast_hist(a, b, n):  # FCN score.py, verbatim
    k = (a >= 0) & (a < n)
    return np.bincount(n * a[k].astype(int) + b[k], minlength=n**2).reshape(n, n)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--side", type=int, default=512)
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run(["cargo", "build", "--quiet", "--release"], cwd=root, check=True)
    fcn = os.path.join(root, "target", "release", "fcn")

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([fcn, "bench", "metrics", "--images", str(args.images), "--height", str(args.side),
                        "--width", str(args.side), "--repeats", "1", "--dump", tmp],
                       check=True, stdout=subprocess.DEVNULL)
        shape = (args.images, args.side, args.side)
        pred = np.fromfile(os.path.join(tmp, "pred.u8"), dtype=np.uint8).reshape(shape)
        target = np.fromfile(os.path.join(tmp, "target.u8"), dtype=np.uint8).reshape(shape)
        gt_dir, pred_dir = os.path.join(tmp, "gt"), os.path.join(tmp, "pred")
        os.makedirs(gt_dir)
        os.makedirs(pred_dir)
        palette = [c for i in range(256) for c in ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)]
        for i in range(args.images):
            gt = Image.fromarray(target[i], mode="P")
            gt.putpalette(palette)
            gt.save(os.path.join(gt_dir, f"{i:05d}.png"))
            Image.fromarray(pred[i], mode="L").save(os.path.join(pred_dir, f"{i:05d}.png"))

        report_path = os.path.join(tmp, "report.json")
        start = time.perf_counter()
        subprocess.run([fcn, "eval", "--gt", gt_dir, "--pred", pred_dir, "--num-classes", "21",
                        "--json", report_path], check=True, stdout=subprocess.DEVNULL)
        ours = time.perf_counter() - start
        with open(report_path) as f:
            ours_miou = json.load(f)["mean_iou"]

        start = time.perf_counter()
        hist = np.zeros((21, 21))
        for name in sorted(os.listdir(gt_dir)):
            t = np.array(Image.open(os.path.join(gt_dir, name)))
            p = np.array(Image.open(os.path.join(pred_dir, name)))
            hist += fast_hist(t.flatten(), p.flatten(), 21)
        with np.errstate(divide="ignore", invalid="ignore"):
            iu = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist))
        python_miou = float(np.nanmean(iu))
        python = time.perf_counter() - start

    assert ours_miou == python_miou, (ours_miou, python_miou)
    print(f"{args.images} pairs of {args.side}x{args.side} PNGs, 21 classes; mean IoU {ours_miou:.6f} from both")
    print(f"fcn eval ({os.cpu_count()} cores, whole process): {ours:.3f} s  ({args.images / ours:.0f} images/s)")
    print(f"PIL + numpy fast_hist (1 core):       {python:.3f} s  ({args.images / python:.0f} images/s)")
    print(f"ratio: {python / ours:.1f}x")


if __name__ == "__main__":
    main()
