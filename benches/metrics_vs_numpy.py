#!/usr/bin/env python3
"""Times fcn-metrics against numpy's bincount-based fast_hist (FCN score.py) on the same data.

    python benches/metrics_vs_numpy.py [--images 256] [--side 512] [--repeats 7]

Runs `fcn bench metrics --dump DIR` (release build), which times our cases and writes its
21-class synthetic label maps; then times score.py's fast_hist on exactly those arrays (one
image at a time, as score.py is called, and once on the whole set concatenated), checks that
both give the same matrix, and prints the figures and ratios. Needs numpy.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def fast_hist(a, b, n):  # FCN score.py, verbatim
    k = (a >= 0) & (a < n)
    return np.bincount(n * a[k].astype(int) + b[k], minlength=n**2).reshape(n, n)


def median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        ours_json = os.path.join(tmp, "ours.json")
        subprocess.run(
            ["cargo", "run", "--quiet", "--release", "--", "bench", "metrics",
             "--images", str(args.images), "--height", str(args.side), "--width", str(args.side),
             "--repeats", str(args.repeats), "--dump", tmp, "--json", ours_json],
            cwd=root, check=True, stdout=sys.stderr)
        with open(ours_json) as f:
            ours = json.load(f)
        with open(os.path.join(tmp, "meta.json")) as f:
            meta = json.load(f)
        shape = (meta["images"], meta["height"], meta["width"])
        pred = np.fromfile(os.path.join(tmp, "pred.u8"), dtype=np.uint8).reshape(shape)
        target = np.fromfile(os.path.join(tmp, "target.u8"), dtype=np.uint8).reshape(shape)

    n = meta["num_classes"]
    pixels = pred.size

    def per_image():
        hist = np.zeros((n, n))
        for p, t in zip(pred, target):
            hist += fast_hist(t.flatten(), p.flatten(), n)
        return hist

    def whole():
        return fast_hist(target.ravel(), pred.ravel(), n)

    hist = per_image()
    assert (hist.ravel() == np.array(meta["counts"])).all(), "numpy and fcn-metrics disagree"
    assert (whole().ravel() == np.array(meta["counts"])).all()

    numpy_per_image = median_time(per_image, args.repeats)
    numpy_whole = median_time(whole, args.repeats)
    # The worst case for fcn-metrics (no runs); numpy's bincount barely depends on the data.
    rng = np.random.default_rng(0)
    noise_pred = rng.integers(0, n, size=shape, dtype=np.uint8)
    noise_target = rng.integers(0, n + 1, size=shape, dtype=np.uint8)
    noise_target[noise_target == n] = 255

    def per_image_noise():
        hist = np.zeros((n, n))
        for p, t in zip(noise_pred, noise_target):
            hist += fast_hist(t.flatten(), p.flatten(), n)
        return hist

    numpy_noise = median_time(per_image_noise, args.repeats)
    cases = {c["name"]: c for c in ours["cases"]}
    threads = ours["threads"]
    single = cases["u8_21cls_1thread"]
    batch = cases[f"u8_21cls_batch_{threads}threads"]
    noise = cases["u8_21cls_noise_1thread"]

    print(f"cpu: {ours['cpu']}; numpy {np.__version__}; {args.images} images of {args.side}x{args.side}, "
          f"21 classes, {pixels} pixels; matrices identical")
    rows = [
        ("numpy fast_hist, per image (score.py)", 1, numpy_per_image),
        ("numpy fast_hist, all pixels at once", 1, numpy_whole),
        ("fcn-metrics update, per image", 1, single["median_s"]),
        ("fcn-metrics update_batch", threads, batch["median_s"]),
        ("numpy fast_hist, per image, uniform noise", 1, numpy_noise),
        ("fcn-metrics update, uniform noise (worst case)", 1, noise["median_s"]),
        ("fcn-metrics update_batch, uniform noise", threads,
         cases[f"u8_21cls_noise_batch_{threads}threads"]["median_s"]),
    ]
    print(f"{'implementation':<48} {'threads':>7} {'median ms':>10} {'Gpx/s':>7} {'vs numpy':>9}")
    for name, t, seconds in rows:
        baseline = numpy_noise if "noise" in name else numpy_per_image
        print(f"{name:<48} {t:>7} {seconds * 1e3:>10.2f} {pixels / seconds / 1e9:>7.3f} "
              f"{baseline / seconds:>8.1f}x")
    print("(vs numpy: against numpy's per-image fast_hist on the same kind of data)")


if __name__ == "__main__":
    main()
