#!/usr/bin/env python3
"""Golden values for fcn-metrics, from the reference definitions.

References, each used where it defines the number:
  - FCN score.py (shelhamer/fcn.berkeleyvision.org), reproduced verbatim below: fast_hist and
    the four scores of seg_tests (pixel acc, mean acc, mean IU, fwavacc);
  - torchmetrics MulticlassJaccardIndex (average macro / weighted / micro / none with
    zero_division), and segmentation.MeanIoU plus functional mean_iou for per-image averages;
  - numpy for the remaining per-class scores (Dice, precision) and for torchmetrics semantics
    where torchmetrics cannot take the input (an ignore value in MeanIoU); the numpy versions are
    checked against torchmetrics on every input torchmetrics accepts.

Run from anywhere:  python make_golden.py   (needs numpy, torch, torchmetrics)
Writes golden.json beside this script. Tested with numpy 2.4.6, torch 2.15.0, torchmetrics 1.9.0.
"""
import json
import os

import numpy as np
import torch
import torchmetrics
from torchmetrics.classification import MulticlassJaccardIndex
from torchmetrics.functional.segmentation import mean_iou as tm_functional_mean_iou
from torchmetrics.segmentation import MeanIoU


# ---- score.py, verbatim (Python 3: print statements removed, values returned) ----
def fast_hist(a, b, n):
    k = (a >= 0) & (a < n)
    return np.bincount(n * a[k].astype(int) + b[k], minlength=n**2).reshape(n, n)


def score_py(images, n):
    hist = np.zeros((n, n))
    for pred, target in images:
        hist += fast_hist(target.flatten(), pred.flatten(), n)
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = np.diag(hist).sum() / hist.sum()
        acc_cls = np.diag(hist) / hist.sum(1)
        mean_acc = np.nanmean(acc_cls)
        iu = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist))
        mean_iu = np.nanmean(iu)
        freq = hist.sum(1) / hist.sum()
        fwavacc = (freq[freq > 0] * iu[freq > 0]).sum()
    return hist, acc, acc_cls, mean_acc, iu, mean_iu, fwavacc


def nan_to_none(x):
    x = float(x)
    return None if np.isnan(x) else x


def list_or_none(xs):
    return [nan_to_none(x) for x in xs]


# ---- confusion matrix with an ignore value, as torchmetrics builds it ----
def confmat(images, n, ignore):
    hist = np.zeros((n, n), dtype=np.int64)
    for pred, target in images:
        t = target.astype(np.int64).ravel()
        p = pred.astype(np.int64).ravel()
        keep = (t >= 0) & (t < n)
        if ignore is not None:
            keep &= t != ignore
        hist += np.bincount(n * t[keep] + p[keep], minlength=n * n).reshape(n, n)
    return hist


def numpy_scores(hist, ignore):
    n = hist.shape[0]
    t, p, tp = hist.sum(1).astype(float), hist.sum(0).astype(float), np.diag(hist).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = tp / (t + p - tp)
        dice = 2 * tp / (t + p)
        precision = tp / p
        recall = tp / t
    evaluated = np.ones(n, bool)
    if ignore is not None and 0 <= ignore < n:
        evaluated[ignore] = False
    return iou, dice, precision, recall, evaluated


def tm_jaccard(images, n, ignore, average, zero_division=0.0):
    kwargs = dict(num_classes=n, average=average, zero_division=zero_division)
    if ignore is not None:
        kwargs["ignore_index"] = int(ignore)
    metric = MulticlassJaccardIndex(**kwargs).double()
    for pred, target in images:
        metric.update(torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(target.astype(np.int64)))
    out = metric.compute()
    return [float(v) for v in out] if average == "none" else float(out)


# ---- per-image averages ----
def per_image_numpy(images, n, ignore):
    """Ignored pixels dropped from both maps; in each image, classes with empty union left out."""
    sums, counts, image_means = np.zeros(n), np.zeros(n, np.int64), []
    for pred, target in images:
        hist = confmat([(pred, target)], n, ignore)
        iou, _, _, _, evaluated = numpy_scores(hist, ignore)
        valid = ~np.isnan(iou) & evaluated
        sums[valid] += iou[valid]
        counts[valid] += 1
        if valid.any():
            image_means.append(float(np.nanmean(np.where(valid, iou, np.nan))))
    return {
        "mean_of_image_means": float(np.mean(image_means)) if image_means else None,
        "mean_over_image_classes": float(sums.sum() / counts.sum()) if counts.sum() else None,
        "per_class": [float(s / c) if c else None for s, c in zip(sums, counts)],
        "scored_images": len(image_means),
    }


def per_image_torchmetrics(images, n):
    module = MeanIoU(num_classes=n, input_format="index")
    per_class = MeanIoU(num_classes=n, per_class=True, input_format="index")
    functional = []
    for pred, target in images:
        p = torch.from_numpy(pred.astype(np.int64))[None]
        t = torch.from_numpy(target.astype(np.int64))[None]
        module.update(p, t)
        per_class.update(p, t)
        functional.append(float(tm_functional_mean_iou(p, t, num_classes=n, input_format="index")[0]))
    pc = [float(v) for v in per_class.compute()]
    return {
        "mean_of_image_means": float(np.mean(functional)),
        "mean_over_image_classes": float(module.compute()),
        "per_class": [None if v == -1.0 else v for v in pc],
    }


def check_close(a, b, what, tol=1e-6):
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            check_close(x, y, f"{what}[{i}]", tol)
        return
    if a is None or b is None:
        assert a is None and b is None, (what, a, b)
        return
    assert abs(a - b) <= tol * max(1.0, abs(b)), (what, a, b)


# ---- inputs ----
rng = np.random.default_rng(20261127)


def blocky(h, w, n, run):
    """Label map of horizontal runs of `run` pixels, as coherent as real segmentation."""
    cells = rng.integers(0, n, size=(h, -(-w // run)))
    return np.repeat(cells, run, axis=1)[:, :w]


def make_case(name, n, dtype, sizes, ignore, lenient=False, void=0.1, absent_gt=(), absent_all=(),
              out_of_range=(), coherent=False, torchmetrics_per_image=False, score_py_applies=True):
    images = []
    for h, w in sizes:
        if coherent:
            target, pred = blocky(h, w, n, 40), blocky(h, w, n, 40)
            pred = np.where(rng.random((h, w)) < 0.7, target, pred)
        else:
            target = rng.integers(0, n, size=(h, w))
            pred = np.where(rng.random((h, w)) < 0.6, target, rng.integers(0, n, size=(h, w)))
        for c in list(absent_gt) + list(absent_all):
            target = np.where(target == c, (c + 1) % n, target)
        for c in absent_all:
            pred = np.where(pred == c, (c + 2) % n, pred)
        if void:
            mask = rng.random((h, w)) < void
            target = np.where(mask, -1 if ignore == -1 else ignore, target)
        if out_of_range:
            mask = rng.random((h, w)) < 0.05
            target = np.where(mask, rng.choice(out_of_range, size=(h, w)), target)
        images.append((pred.astype(dtype), target.astype(dtype)))

    metric_ignore = None if ignore == -1 else ignore
    hist = confmat(images, n, metric_ignore)
    iou, dice, precision, recall, evaluated = numpy_scores(hist, metric_ignore)
    expected = {
        "counts": hist.ravel().tolist(),
        "iou": list_or_none(iou),
        "dice": list_or_none(dice),
        "precision": list_or_none(precision),
        "accuracy": list_or_none(recall),
        "per_image": per_image_numpy(images, n, metric_ignore),
    }
    if score_py_applies:
        shist, acc, acc_cls, mean_acc, iu, mean_iu, fwavacc = score_py(images, n)
        assert (shist == hist).all(), name
        expected["score_py"] = {
            "pixel_accuracy": nan_to_none(acc),
            "mean_accuracy": nan_to_none(mean_acc),
            "mean_iou": nan_to_none(mean_iu),
            "fw_iou": nan_to_none(fwavacc),
            "iou": list_or_none(iu),
        }
    if not lenient:
        tm_ignore = -1 if ignore == -1 else ignore
        expected["torchmetrics"] = {
            "macro": tm_jaccard(images, n, tm_ignore, "macro"),
            "weighted": tm_jaccard(images, n, tm_ignore, "weighted"),
            "micro": tm_jaccard(images, n, tm_ignore, "micro"),
            "none_zero_division_0": tm_jaccard(images, n, tm_ignore, "none", 0.0),
            "none_zero_division_1": tm_jaccard(images, n, tm_ignore, "none", 1.0),
        }
    if torchmetrics_per_image:
        tm = per_image_torchmetrics(images, n)
        ours = expected["per_image"]
        for key in ("mean_of_image_means", "mean_over_image_classes", "per_class"):
            check_close(ours[key], tm[key], f"{name} per_image {key}")
        expected["per_image_torchmetrics"] = tm
    return {
        "name": name,
        "num_classes": n,
        "dtype": np.dtype(dtype).name,
        "ignore_index": metric_ignore,
        "lenient": lenient,
        "images": [
            {"height": int(p.shape[0]), "width": int(p.shape[1]),
             "pred": p.ravel().tolist(), "target": t.ravel().tolist()}
            for p, t in images
        ],
        "expected": expected,
    }


cases = [
    make_case("voc_like_u8", 7, np.uint8, [(13, 17), (31, 29), (8, 5), (21, 40)], 255,
              absent_gt=[5], absent_all=[6]),
    make_case("coherent_runs_u8", 21, np.uint8, [(16, 200), (9, 333)], 255, void=0.03, coherent=True),
    make_case("lenient_score_py_u8", 5, np.uint8, [(19, 23), (7, 11)], 255, lenient=True,
              out_of_range=[5, 6, 9, 200]),
    make_case("signed_minus_one_i64", 6, np.int64, [(12, 14), (17, 9)], -1, absent_gt=[2]),
    make_case("signed_minus_one_i32", 4, np.int32, [(10, 10)], -1),
    make_case("many_classes_u16", 70, np.uint16, [(40, 50), (33, 27)], 65535, void=0.05),
    make_case("ignore_inside_classes_u8", 5, np.uint8, [(15, 16), (9, 13)], 0, void=0.0,
              score_py_applies=False),
    make_case("no_void_per_image_u8", 4, np.uint8, [(10, 12), (8, 8), (14, 9), (6, 20), (11, 11)],
              255, void=0.0, absent_gt=[3], torchmetrics_per_image=True),
    make_case("no_void_per_image_u32", 6, np.uint32, [(12, 12), (5, 30), (9, 9)], 255, void=0.0,
              absent_all=[4], torchmetrics_per_image=True),
]

# The numpy versions of torchmetrics semantics must agree with torchmetrics itself.
for case in cases:
    exp = case["expected"]
    if "torchmetrics" not in exp:
        continue
    iou = [v for v in exp["iou"]]
    ign = case["ignore_index"]
    n = case["num_classes"]
    evaluated = [ign is None or c != ign for c in range(n)]
    check_close([v if v is not None else 0.0 for v in iou], exp["torchmetrics"]["none_zero_division_0"],
                case["name"] + " none")
    defined = [v for c, v in enumerate(iou) if v is not None and evaluated[c]]
    check_close(sum(defined) / len(defined), exp["torchmetrics"]["macro"], case["name"] + " macro")

out = {
    "generator": "make_golden.py",
    "versions": {"numpy": np.__version__, "torch": torch.__version__, "torchmetrics": torchmetrics.__version__},
    "cases": cases,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
    f.write("\n")
print(f"wrote {path}: {len(cases)} cases")
