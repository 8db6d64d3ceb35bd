#!/usr/bin/env python3
"""Builds the prediction of the evaluation sample and its expected scores.

gt/frankfurt_000000_000294.png is the Cityscapes `gtFine_labelTrainIds` frame from the shared
fixtures (see NOTICE). The prediction is what an ideal network with output stride 16 could give:
the majority non-void class of each 16x16 block, upsampled by repetition. It is written as a
palette PNG with the Cityscapes colours, so reading it exercises palette-index decoding.

expected.json holds FCN score.py's numbers for the pair, computed on the arrays PIL reads.
Run: python make_sample.py  (needs numpy and pillow)
"""
import json
import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
STEM = "frankfurt_000000_000294"
N = 19
BLOCK = 16
PALETTE = [
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32),
]


def fast_hist(a, b, n):  # FCN score.py, verbatim
    k = (a >= 0) & (a < n)
    return np.bincount(n * a[k].astype(int) + b[k], minlength=n**2).reshape(n, n)


def nan_to_none(x):
    return None if np.isnan(x) else float(x)


gt = np.array(Image.open(os.path.join(HERE, "gt", STEM + ".png")))
h, w = gt.shape
pred = np.zeros_like(gt)
for y in range(0, h, BLOCK):
    for x in range(0, w, BLOCK):
        block = gt[y:y + BLOCK, x:x + BLOCK]
        counts = np.bincount(block[block < N].ravel(), minlength=N)
        pred[y:y + BLOCK, x:x + BLOCK] = counts.argmax()  # all-void block: road (0)

image = Image.fromarray(pred, mode="P")
flat = [c for rgb in PALETTE for c in rgb]
image.putpalette(flat + [0] * (768 - len(flat)))
image.save(os.path.join(HERE, "pred", STEM + ".png"))

# Score the arrays as read back from disk: palette indices, not colours.
pred_read = np.array(Image.open(os.path.join(HERE, "pred", STEM + ".png")))
assert (pred_read == pred).all()
hist = fast_hist(gt.flatten(), pred_read.flatten(), N).astype(float)
with np.errstate(divide="ignore", invalid="ignore"):
    acc = np.diag(hist).sum() / hist.sum()
    acc_cls = np.diag(hist) / hist.sum(1)
    iu = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist))
    freq = hist.sum(1) / hist.sum()
    dice = 2 * np.diag(hist) / (hist.sum(1) + hist.sum(0))
    expected = {
        "pixel_accuracy": float(acc),
        "mean_accuracy": float(np.nanmean(acc_cls)),
        "mean_iou": float(np.nanmean(iu)),
        "fw_iou": float((freq[freq > 0] * iu[freq > 0]).sum()),
        "num_pixels": int(hist.sum()),
        "per_class": [
            {"iou": nan_to_none(iu[c]), "accuracy": nan_to_none(acc_cls[c]), "dice": nan_to_none(dice[c]),
             "gt_pixels": int(hist.sum(1)[c]), "pred_pixels": int(hist.sum(0)[c])}
            for c in range(N)
        ],
    }
with open(os.path.join(HERE, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
    f.write("\n")
print(f"mean IoU {expected['mean_iou']:.4f}, pixel accuracy {expected['pixel_accuracy']:.4f}")
