"""COCO mask decoding: fcn-data against pycocotools, on the same annotations, in one run.

    python benches/coco_vs_pycocotools.py [--annotations 2000] [--repeats 5]

Needs numpy and pycocotools. Builds and runs `crates/fcn-data/examples/coco_speed.rs` with
--release, times pycocotools on the same workload, and prints both with the ratio. Both sides
run single-threaded and time, per annotation:
  * polygons -> mask: pycocotools' annToMask path, decode(merge(frPyObjects(polygons, h, w)));
  * compressed RLE string -> mask: pycocotools' decode({"size": [h, w], "counts": s}).
The masks are 480x640; polygons are star-shaped objects of 8..60 vertices and 10..200 px radius,
one in five annotations in two parts, like COCO instances.
"""

import argparse
import json
import math
import os
import random
import subprocess
import tempfile
import time

import numpy as np
from pycocotools import mask as mask_utils

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H, W = 480, 640


def star_polygon(rng):
    cx, cy = rng.uniform(0, W), rng.uniform(0, H)
    radius = rng.uniform(10, 200)
    k = rng.randint(8, 60)
    angles = sorted(rng.uniform(0, 2 * math.pi) for _ in range(k))
    points = []
    for a in angles:
        r = radius * rng.uniform(0.5, 1.0)
        points += [round(cx + r * math.cos(a), 2), round(cy + r * math.sin(a), 2)]
    return points


def workload(n, seed=0):
    rng = random.Random(seed)
    polygons = [[star_polygon(rng) for _ in range(2 if i % 5 == 0 else 1)] for i in range(n)]
    strings = []
    for parts in polygons:
        rle = mask_utils.merge(mask_utils.frPyObjects(parts, H, W))
        strings.append(rle["counts"].decode("ascii"))
    return {"h": H, "w": W, "polygons": polygons, "strings": strings}


def best_of(repeats, run):
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def pycocotools_times(data, repeats):
    h, w = data["h"], data["w"]
    polygons, strings = data["polygons"], data["strings"]

    def polygon_masks():
        for parts in polygons:
            mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(parts, h, w)))

    rles = [{"size": [h, w], "counts": s} for s in strings]

    def string_masks():
        for rle in rles:
            mask_utils.decode(rle)

    return (best_of(repeats, polygon_masks) / len(polygons),
            best_of(repeats, string_masks) / len(strings))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    data = workload(args.annotations)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "fcn-data", "--example", "coco_speed"],
                   cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = os.path.join(target, "release", "examples", "coco_speed")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(data, f)
        path = f.name
    try:
        out = subprocess.run([binary, path, str(args.repeats)], check=True, capture_output=True, text=True)
    finally:
        os.unlink(path)
    ours = json.loads(out.stdout)
    py_poly, py_string = pycocotools_times(data, args.repeats)

    print(f"{len(data['polygons'])} annotations on {H}x{W} masks, best of {args.repeats}, one thread")
    print(f"{'decode':<26}{'fcn-data':>12}{'pycocotools':>14}{'speed-up':>10}")
    for name, rust, py in (("polygons -> mask", ours["polygon_to_mask_s"], py_poly),
                           ("RLE string -> mask", ours["rle_string_to_mask_s"], py_string)):
        print(f"{name:<26}{rust * 1e6:>9.1f} us{py * 1e6:>11.1f} us{py / rust:>9.2f}x")


if __name__ == "__main__":
    main()
