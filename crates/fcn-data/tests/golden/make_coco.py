"""Golden vectors for the COCO module, made with pycocotools (the reference).

Run from crates/fcn-data:  /root/venv-ref/bin/python tests/golden/make_coco.py
It writes tests/data/coco/golden.json. Seeded: the output only changes with pycocotools.

pycocotools 2.0.11 from PyPI; torchvision's references/segmentation/coco_utils.py rule is
reproduced below in numpy (ConvertCocoPolysToMask + FilterAndRemapCocoCategories).
"""

import json
import os
import random

import numpy as np
from importlib.metadata import version
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "coco")
rng = random.Random(20261127)


def s(rle):
    counts = rle["counts"]
    return counts.decode("ascii") if isinstance(counts, bytes) else counts


def rand_coord(limit, mode):
    if mode == "int":
        return rng.randint(-3, limit + 3)
    if mode == "half":
        return rng.randint(-6, 2 * limit + 6) / 2.0
    if mode == "wide":
        return round(rng.uniform(-limit, 2 * limit), 2)
    return round(rng.uniform(-1.5, limit + 1.5), rng.choice([1, 2, 3]))


def random_polygon(h, w):
    kind = rng.random()
    mode = rng.choice(["int", "half", "frac", "frac", "wide"])
    if kind < 0.08:  # one repeated point
        x, y = rand_coord(w, mode), rand_coord(h, mode)
        return [x, y] * rng.randint(3, 5)
    if kind < 0.16:  # collinear
        x0, y0, dx, dy = rand_coord(w, mode), rand_coord(h, mode), rng.randint(-3, 3), rng.randint(-3, 3)
        return sum(([x0 + t * dx, y0 + t * dy] for t in range(rng.randint(3, 5))), [])
    if kind < 0.22:  # odd number of numbers: the last is ignored
        return [rand_coord(w if i % 2 == 0 else h, mode) for i in range(2 * rng.randint(3, 6) + 1)]
    k = rng.choice([3, 3, 4, 4, 5, 6, 8, 12, 20])
    return [rand_coord(w if i % 2 == 0 else h, mode) for i in range(2 * k)]


def polygon_vectors():
    out = []
    for n in range(250):
        h, w = rng.randint(1, 40), rng.randint(1, 40)
        if n % 50 == 0:
            h, w = rng.randint(100, 300), rng.randint(100, 300)
        parts = [random_polygon(h, w) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
        if n % 25 == 3:  # a 4-number polygon after a real one: rasterised as k = 2
            parts.append([rand_coord(w, "frac"), rand_coord(h, "frac"), rand_coord(w, "frac"), rand_coord(h, "frac")])
        if n % 40 == 7:  # shorter ones after a real one
            parts.append([rand_coord(w, "frac"), rand_coord(h, "frac")][: rng.randint(0, 2)])
        rles = mask_utils.frPyObjects(parts, h, w)
        merged = mask_utils.merge(rles)
        out.append({
            "polygons": parts, "h": h, "w": w,
            "per_polygon": [s(r) for r in rles],
            "merged": s(merged),
            "area": int(mask_utils.area(merged)),
            "bbox": mask_utils.toBbox(merged).tolist(),
        })
    return out


def four_number_polygon_errors():
    """A polygon list whose first polygon has < 6 numbers: pycocotools raises."""
    out = []
    for parts in ([[1, 1, 4, 1]], [[1, 1, 4, 1], [1, 1, 4, 1, 4, 4]], [[1, 2]], [[]], []):
        try:
            mask_utils.merge(mask_utils.frPyObjects(parts, 6, 7))
            error = None
        except Exception as e:  # noqa: BLE001 - any exception is the point
            error = type(e).__name__
        out.append({"polygons": parts, "error": error})
    return out


def bbox_vectors():
    out = []
    for _ in range(100):
        h, w = rng.randint(1, 30), rng.randint(1, 30)
        box = [rand_coord(w, "frac"), rand_coord(h, "frac"), round(rng.uniform(-2, w), 2), round(rng.uniform(-2, h), 2)]
        rle = mask_utils.frPyObjects(np.array([box], dtype=np.double), h, w)[0]
        out.append({"bbox": box, "h": h, "w": w, "string": s(rle)})
    return out


def random_mask(h, w):
    style = rng.random()
    if style < 0.1:
        return np.full((h, w), rng.randint(0, 1), dtype=np.uint8)
    if style < 0.5:
        p = rng.uniform(0.05, 0.95)
        return (np.array([[rng.random() < p for _ in range(w)] for _ in range(h)])).astype(np.uint8)
    m = np.zeros((h, w), dtype=np.uint8)
    for _ in range(rng.randint(1, 4)):
        y0, x0 = rng.randint(0, h - 1), rng.randint(0, w - 1)
        m[y0:y0 + rng.randint(1, h), x0:x0 + rng.randint(1, w)] = 1
    return m


def pack(mask):
    """Row-major 0/1 pixels as a string of '0'/'1' rows joined by '/'."""
    return "/".join("".join(str(int(v)) for v in row) for row in mask)


def mask_vectors():
    out = []
    for n in range(80):
        h, w = rng.randint(1, 24), rng.randint(1, 24)
        if n % 30 == 0:
            h, w = rng.randint(1, 2), rng.randint(1, 3)
        m = random_mask(h, w)
        rle = mask_utils.encode(np.asfortranarray(m))
        decoded = mask_utils.decode(rle)
        assert (decoded == m).all()
        out.append({
            "mask": pack(m), "h": h, "w": w, "string": s(rle),
            "area": int(mask_utils.area(rle)), "bbox": mask_utils.toBbox(rle).tolist(),
        })
    return out


def merge_vectors():
    out = []
    for _ in range(80):
        h, w = rng.randint(1, 20), rng.randint(1, 20)
        rles = [mask_utils.encode(np.asfortranarray(random_mask(h, w))) for _ in range(rng.randint(1, 4))]
        out.append({
            "h": h, "w": w, "strings": [s(r) for r in rles],
            "union": s(mask_utils.merge(rles, intersect=0)),
            "intersection": s(mask_utils.merge(rles, intersect=1)),
        })
    return out


def counts_vectors():
    """Uncompressed counts -> string, via frUncompressedRLE. rleToString allocates 6 chars per
    count, so counts needing more (deltas of 2^29 or more) overflow its buffer: kept below."""
    out = []
    for _ in range(150):
        m = rng.randint(1, 12)
        scale = rng.choice([3, 40, 1000, 2**20, 2**23])
        counts = [rng.randint(0, scale) for _ in range(m)]
        rle = mask_utils.frPyObjects({"counts": counts, "size": [1, max(1, sum(counts))]}, 1, 1)
        out.append({"counts": counts, "string": s(rle)})
    return out


def counts_of_string(text):
    """The counts maskApi.c's rleFrString reads (only to pick a size the counts fill)."""
    counts, p = [], 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            c = (ord(text[p]) - 48) & 0xFF
            x |= ((c & 0x1F) << (5 * k % 32)) if 5 * k < 32 else ((c & 0x1F) << ((5 * k) % 32))
            more = c & 0x20
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << ((5 * k) % 32)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x % 2**32)
    return counts


def garbage_string_vectors():
    """Arbitrary strings (any printable ASCII, long chunks): the counts pycocotools reads, seen
    through area (odd counts summed, uint), toBbox, and a merge with itself (re-encoded)."""
    out = []
    alphabet = [chr(c) for c in range(33, 127)]
    for n in range(120):
        if n % 4 == 0:
            text = "".join(rng.choice("PQRSTUVWXYZ[\\]^_`abcdefghijklmno") for _ in range(rng.randint(5, 14)))
            text += rng.choice("0123456789:;<=>?@ABCDEFGHIJKLMNO")
        elif n % 2 == 1:  # small non-negative numbers, some of two chunks
            text = "".join(rng.choice(["0123456789:;<=>?"[rng.randint(0, 15)], "PQRS" [rng.randint(0, 3)] + "0123"[rng.randint(0, 3)]])
                           for _ in range(rng.randint(1, 12)))
        else:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 16)))
        # A string ending inside a number makes maskApi.c read past its end (undefined
        # behaviour, heap corruption): not a reference vector.
        if ((ord(text[-1]) - 48) & 0x20) != 0:
            text += rng.choice("0123456789:;<=>?@ABCDEFGHIJKLMNO")
        h, w = rng.randint(1, 50), rng.randint(1, 50)
        total = sum(counts_of_string(text))
        if n % 2 == 1 and 0 < total <= 20000:
            # A size the counts fill exactly, so the decoded mask is defined.
            h = max(d for d in range(1, 60) if total % d == 0)
            w = total // h
        obj = {"size": [h, w], "counts": text}
        entry = {"string": text, "h": h, "w": w,
                 "area": int(mask_utils.area([obj])[0]),
                 "bbox": mask_utils.toBbox([obj])[0].tolist()}
        if total == h * w:
            entry["decoded"] = s(mask_utils.encode(np.asfortranarray(mask_utils.decode(obj))))
        else:
            # Overrun: pycocotools raises; short: it leaves memory uninitialised. Both refused.
            entry["decoded"] = None
        out.append(entry)
    return out


def iou_vectors():
    """rleIou between random masks of one size, crowd or not, and bbIou between their boxes."""
    out = []
    for _ in range(60):
        h, w = rng.randint(1, 20), rng.randint(1, 20)
        dt = [mask_utils.encode(np.asfortranarray(random_mask(h, w))) for _ in range(2)]
        gt = [mask_utils.encode(np.asfortranarray(random_mask(h, w))) for _ in range(2)]
        crowd = [rng.randint(0, 1), rng.randint(0, 1)]
        boxes_dt, boxes_gt = mask_utils.toBbox(dt), mask_utils.toBbox(gt)
        out.append({
            "h": h, "w": w, "dt": [s(r) for r in dt], "gt": [s(r) for r in gt], "iscrowd": crowd,
            "iou": mask_utils.iou(dt, gt, crowd).tolist(),
            "bbox_iou": mask_utils.iou(boxes_dt, boxes_gt, crowd).tolist(),
        })
    return out


VOC_CAT_LIST = [0, 5, 2, 16, 9, 44, 6, 3, 17, 62, 21, 67, 18, 19, 4, 1, 64, 20, 63, 7, 72]


def torchvision_target(anns, cat_map, h, w):
    """ConvertCocoPolysToMask after FilterAndRemapCocoCategories, in numpy."""
    anns = [a for a in anns if a["category_id"] in cat_map]
    if not anns:
        return np.zeros((h, w), dtype=np.uint8)
    masks = []
    for a in anns:
        m = mask_utils.decode(mask_utils.frPyObjects(a["segmentation"], h, w))
        if m.ndim < 3:
            m = m[..., None]
        masks.append(m.any(axis=2))
    masks = np.stack(masks).astype(np.uint8)
    cats = np.array([cat_map[a["category_id"]] for a in anns], dtype=np.uint8)
    target = (masks * cats[:, None, None]).max(axis=0)
    target[masks.astype(np.int64).sum(0) > 1] = 255
    return target


def semantic_vectors():
    coco = COCO(os.path.join(DATA, "coco_25k_annotations.json"))
    all_ids = sorted(coco.cats)
    modes = {
        "all": {cid: i + 1 for i, cid in enumerate(all_ids)},
        "voc21": {cid: i for i, cid in enumerate(VOC_CAT_LIST)},
    }
    out = []
    for img_id in sorted(coco.imgs):
        info = coco.imgs[img_id]
        h, w = info["height"], info["width"]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id, iscrowd=None))
        entry = {"image_id": img_id, "file_name": info["file_name"], "h": h, "w": w,
                 "annotation_areas": {str(a["id"]): int(coco.annToMask(a).sum()) for a in anns},
                 "annotation_strings": {str(a["id"]): s(coco.annToRLE(a)) for a in anns}}
        for name, cat_map in modes.items():
            target = torchvision_target(anns, cat_map, h, w)
            entry[name] = {str(v): s(mask_utils.encode(np.asfortranarray((target == v).astype(np.uint8))))
                           for v in np.unique(target).tolist()}
        out.append(entry)
    return out


def kept_for_training():
    """torchvision's _coco_remove_images_without_annotations over CocoDetection's sorted ids."""
    coco = COCO(os.path.join(DATA, "coco_25k_annotations.json"))
    out = {}
    for name, cat_list in (("all", None), ("voc21", VOC_CAT_LIST)):
        kept = []
        for img_id in sorted(coco.imgs.keys()):
            anno = coco.loadAnns(coco.getAnnIds(imgIds=img_id, iscrowd=None))
            if cat_list:
                anno = [obj for obj in anno if obj["category_id"] in cat_list]
            if len(anno) > 0 and sum(obj["area"] for obj in anno) > 1000:
                kept.append(img_id)
        out[name] = kept
    return out


def main():
    golden = {
        "generator": f"tests/golden/make_coco.py with pycocotools {version('pycocotools')}",
        "polygons": polygon_vectors(),
        "polygon_errors": four_number_polygon_errors(),
        "bboxes": bbox_vectors(),
        "masks": mask_vectors(),
        "merges": merge_vectors(),
        "counts": counts_vectors(),
        "garbage_strings": garbage_string_vectors(),
        "iou": iou_vectors(),
        "semantic": semantic_vectors(),
        "kept_for_training": kept_for_training(),
    }
    with open(os.path.join(DATA, "golden.json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
