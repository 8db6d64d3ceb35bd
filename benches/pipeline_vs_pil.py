"""fcn-data's input pipeline against the same pipeline in PIL + numpy, in one run.

Pipeline per image: decode a 500x375 JPEG and its 8-bit label PNG, take a random 321x321 crop
of both, and normalise the image the Caffe FCN way (RGB->BGR, minus the mean pixel, float32
CHW). Both sides read the same files, written by the example binary from the synthetic
transit-scene generator, and both use the same number of worker processes/threads.

    cargo build -p fcn-data --release --example pipeline_speed
    /root/venv-ref/bin/python benches/pipeline_vs_pil.py [--count 64] [--repeats 5]

Ours: `pipeline_speed files DIR WORKERS REPEATS` (the crate's Loader, batches of 4, best of
REPEATS epochs). PIL: the loop below in a multiprocessing pool of WORKERS processes (best of
REPEATS). Prints images/s and the ratio for 1 and 2 workers, and PIL's decoding alone (JPEG + PNG to
numpy, no crop or normalisation) as a bound on any PIL pipeline.
"""
import argparse
import json
import multiprocessing
import os
import platform
import random
import subprocess
import tempfile
import time

import numpy as np
import PIL
from PIL import Image

MEAN_BGR = np.array((104.00698793, 116.66876762, 122.67891434))
CROP = 321


def load(pair):
    jpg, png, seed = pair
    rng = random.Random(seed)
    image = np.asarray(Image.open(jpg).convert("RGB"))
    label = np.asarray(Image.open(png))
    h, w = label.shape
    top = rng.randint(0, h - CROP)
    left = rng.randint(0, w - CROP)
    image = image[top : top + CROP, left : left + CROP]
    label = label[top : top + CROP, left : left + CROP].astype(np.uint16)
    # FCN voc_layers.py, on the crop.
    x = np.array(image, dtype=np.float32)[:, :, ::-1]
    x -= MEAN_BGR
    x = np.ascontiguousarray(x.transpose((2, 0, 1)))
    return float(x[0, 0, 0]) + int(label[0, 0])


def decode_only(pair):
    """The decoding alone: a bound no PIL pipeline can beat."""
    jpg, png, _ = pair
    image = np.asarray(Image.open(jpg).convert("RGB"))
    label = np.asarray(Image.open(png))
    return int(image[0, 0, 0]) + int(label[0, 0])


def time_pil(function, pairs, workers, repeats):
    best = float("inf")
    with multiprocessing.Pool(workers) as pool:
        pool.map(function, pairs[:workers])  # start the workers before timing
        for _ in range(repeats):
            start = time.perf_counter()
            pool.map(function, pairs, chunksize=4)
            best = min(best, time.perf_counter() - start)
    return len(pairs) / best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--binary",
        default=os.path.join(
            os.environ.get("CARGO_TARGET_DIR", "target"), "release", "examples", "pipeline_speed"
        ),
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([args.binary, "make", folder, str(args.count)], check=True)
        names = sorted(f[:-4] for f in os.listdir(folder) if f.endswith(".jpg"))
        pairs = [
            (os.path.join(folder, n + ".jpg"), os.path.join(folder, n + ".png"), i)
            for i, n in enumerate(names)
        ]
        size = sum(os.path.getsize(p[0]) for p in pairs) / len(pairs) / 1024
        print(
            f"{len(pairs)} pairs of 500x375 JPEG (quality 90, {size:.0f} KiB each) + label PNG; "
            f"crop {CROP}x{CROP}, Caffe normalisation; best of {args.repeats}"
        )
        print(f"Pillow {PIL.__version__}, numpy {np.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        print("| workers | PIL + numpy images/s | PIL decode only images/s | fcn-data images/s | ratio to PIL + numpy |")
        print("|---|---|---|---|---|")
        for workers in (1, 2):
            ours = json.loads(
                subprocess.run(
                    [args.binary, "files", folder, str(workers), str(args.repeats)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )["images_per_second"]
            pil = time_pil(load, pairs, workers, args.repeats)
            decode = time_pil(decode_only, pairs, workers, args.repeats)
            print(f"| {workers} | {pil:.0f} | {decode:.0f} | {ours:.0f} | **{ours / pil:.2f}x** |")
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
