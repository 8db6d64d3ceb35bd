"""Makes the VOC / SBD test data of fcn-data with the reference tools (scipy, PIL, numpy).

Run from the crate root:  /root/venv-ref/bin/python tests/golden/make_sbd.py
Writes (all small, committed so tests need no Python):
  tests/data/sbd/golden/{compressed,uncompressed}.mat  SBD-style GTcls struct (savemat, do_compression
                                                       True / False) + expected.json (what loadmat reads)
  tests/data/sbd/golden/variety_{compressed,uncompressed}.mat  other classes (double, int32, uint16,
                                                       char, cell, nested struct, logical, complex, int64)
  tests/data/sbd/dataset/   a tiny SBD tree: img/*.jpg, cls/*.mat, train.txt, val.txt
  tests/data/voc/VOC2012/   a tiny VOC tree: JPEGImages, SegmentationClass (P mode, VOC palette),
                            SegmentationClassAug (L mode, as mmseg's voc_aug.py writes it),
                            ImageSets/Segmentation/{train,val,trainval,aug,trainaug}.txt
  tests/data/sbd/golden/inst.mat + inst_expected.json  SBD-style GTinst (inst/*.mat: instance map)
  tests/data/voc/expected.json  labels as np.array(Image.open(png)) reads them, images as PIL decodes them
"""
import json
import os

import numpy as np
import scipy.io
import scipy.sparse
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
rng = np.random.default_rng(5)


def voc_palette():
    """VOC devkit colour map, 256 entries (FCN convert_sbdd.py make_palette)."""
    pal = np.zeros((256, 3), np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


def segmentation(h, w, void=False):
    seg = rng.integers(0, 21, size=(h, w), dtype=np.uint8)
    if void:
        seg[0, :] = 255
    return seg


def gtcls(seg):
    """SBD's GTcls: Segmentation (uint8), Boundaries (20x1 cell of sparse logical), CategoriesPresent."""
    h, w = seg.shape
    boundaries = np.empty((20, 1), dtype=object)
    for k in range(20):
        mask = np.zeros((h, w), bool)
        if k + 1 in seg:
            # A one-pixel "boundary" at the first pixel of the class (column-major), as a stand-in.
            rows, cols = np.nonzero((seg == k + 1).T)
            mask[cols[0], rows[0]] = True
        boundaries[k, 0] = scipy.sparse.csc_matrix(mask)
    present = np.array([c for c in range(1, 21) if c in seg], dtype=np.uint8).reshape(-1, 1)
    return {"GTcls": {"Segmentation": seg, "Boundaries": boundaries, "CategoriesPresent": present}}


def write_mat(path, seg, compress):
    scipy.io.savemat(path, gtcls(seg), do_compression=compress, oned_as="column")
    # The reference read (FCN voc_layers.py, mmseg voc_aug.py).
    back = scipy.io.loadmat(path)["GTcls"][0]["Segmentation"][0].astype(np.uint8)
    assert (back == seg).all()
    return back


def rgb(h, w):
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def save_jpeg(path, h, w):
    # Smooth content, no chroma subsampling: decoders then agree to within a grey level or two.
    base = rgb(2, 2).astype(np.float32)
    img = np.array(Image.fromarray(base.astype(np.uint8)).resize((w, h), Image.BILINEAR))
    Image.fromarray(img).save(path, quality=95, subsampling=0)
    return np.array(Image.open(path).convert("RGB"))


def golden():
    out = os.path.join(ROOT, "sbd", "golden")
    os.makedirs(out, exist_ok=True)
    seg = segmentation(5, 7, void=True)
    for name, compress in (("compressed", True), ("uncompressed", False)):
        write_mat(os.path.join(out, f"{name}.mat"), seg, compress)
    loaded = scipy.io.loadmat(os.path.join(out, "compressed.mat"))["GTcls"][0, 0]
    boundaries = []
    for k in range(20):
        m = loaded["Boundaries"][k, 0].tocoo()
        boundaries.append(sorted([int(r), int(c)] for r, c in zip(m.row, m.col)))
    variety = {
        "dbl": np.arange(6, dtype=np.float64).reshape(2, 3) / 4,
        "i32": np.array([[-5, 7, 2**31 - 1]], dtype=np.int32),
        "u16": np.array([[1], [65535]], dtype=np.uint16),
        "i64": np.array([[-(2**40)]], dtype=np.int64),
        "txt": "GTcls é",
        "flag": np.array([[True, False, True]]),
        "cplx": np.array([[1 + 2j, -3.5j]]),
        "nest": {"inner": {"v": np.uint8(9)}, "cells": np.array([[np.float64(1.5), "ab"]], dtype=object)},
        "vol": np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
    }
    for name, compress in (("variety_compressed", True), ("variety_uncompressed", False)):
        scipy.io.savemat(os.path.join(out, f"{name}.mat"), variety, do_compression=compress)
    v = scipy.io.loadmat(os.path.join(out, "variety_uncompressed.mat"))
    expected = {
        "segmentation": seg.tolist(),
        "categories_present": loaded["CategoriesPresent"].ravel().tolist(),
        "boundaries": boundaries,
        "variety": {
            "dbl": {"class": str(v["dbl"].dtype), "dims": list(v["dbl"].shape), "column_major": v["dbl"].ravel(order="F").tolist()},
            "i32": {"class": str(v["i32"].dtype), "dims": list(v["i32"].shape), "column_major": v["i32"].ravel(order="F").tolist()},
            "u16": {"class": str(v["u16"].dtype), "dims": list(v["u16"].shape), "column_major": v["u16"].ravel(order="F").tolist()},
            "i64": {"class": str(v["i64"].dtype), "dims": list(v["i64"].shape), "column_major": v["i64"].ravel(order="F").tolist()},
            "txt": str(v["txt"][0]),
            "flag": {"class": str(v["flag"].dtype), "dims": list(v["flag"].shape), "column_major": v["flag"].ravel(order="F").astype(int).tolist()},
            "cplx": {"real": v["cplx"].real.ravel(order="F").tolist(), "imag": v["cplx"].imag.ravel(order="F").tolist()},
            "nest_inner_v": int(v["nest"][0, 0]["inner"][0, 0]["v"][0, 0]),
            "nest_cells": [float(v["nest"][0, 0]["cells"][0, 0][0, 0]), str(v["nest"][0, 0]["cells"][0, 1][0])],
            "vol": {"dims": list(v["vol"].shape), "column_major": v["vol"].ravel(order="F").tolist()},
        },
    }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)


# Ids: VOC train / val, SBD train / val overlap the way the real lists do (SBD train and val are
# disjoint; both share ids with VOC train and val).
VOC_TRAIN = ["2007_000032", "2007_000039"]
VOC_VAL = ["2007_000033", "2007_000042"]
SBD_TRAIN = ["2007_000039", "2007_000033", "2008_000002"]
SBD_VAL = ["2008_000003", "2007_000032"]
SIZES = {  # (h, w), all different so a transposed read cannot pass
    "2007_000032": (4, 6), "2007_000039": (5, 3), "2007_000033": (6, 5),
    "2007_000042": (3, 7), "2008_000002": (7, 4), "2008_000003": (2, 5),
}


def trees():
    sbd = os.path.join(ROOT, "sbd", "dataset")
    voc = os.path.join(ROOT, "voc", "VOC2012")
    for d in ("img", "cls"):
        os.makedirs(os.path.join(sbd, d), exist_ok=True)
    for d in ("JPEGImages", "SegmentationClass", "SegmentationClassAug", "ImageSets/Segmentation"):
        os.makedirs(os.path.join(voc, d), exist_ok=True)
    pal = voc_palette()
    expected = {"images": {}, "labels": {}, "aug_labels": {}, "sbd_labels": {}}
    segs = {}
    for i, id_ in enumerate(sorted(SIZES)):
        h, w = SIZES[id_]
        img = save_jpeg(os.path.join(voc, "JPEGImages", id_ + ".jpg"), h, w)
        expected["images"][id_] = img.tolist()
        segs[id_] = segmentation(h, w, void=id_ in VOC_TRAIN + VOC_VAL)
    for id_ in VOC_TRAIN + VOC_VAL:
        p = Image.fromarray(segs[id_], mode="P")
        p.putpalette(pal.ravel().tolist())
        path = os.path.join(voc, "SegmentationClass", id_ + ".png")
        p.save(path)
        expected["labels"][id_] = np.array(Image.open(path)).tolist()
    for n, id_ in enumerate(SBD_TRAIN + SBD_VAL):
        # SBD's masks carry no void band; its images are the VOC JPEGs.
        seg = segs[id_].copy()
        seg[seg == 255] = 0
        write_mat(os.path.join(sbd, "cls", id_ + ".mat"), seg, compress=n % 2 == 0)
        with open(os.path.join(voc, "JPEGImages", id_ + ".jpg"), "rb") as src, open(
            os.path.join(sbd, "img", id_ + ".jpg"), "wb"
        ) as dst:
            dst.write(src.read())
        expected["sbd_labels"][id_] = seg.tolist()
        # mmseg tools/dataset_converters/voc_aug.py convert_mat: Image.fromarray(mask) -> mode L.
        mask = scipy.io.loadmat(os.path.join(sbd, "cls", id_ + ".mat"))["GTcls"][0]["Segmentation"][0].astype(np.uint8)
        path = os.path.join(voc, "SegmentationClassAug", id_ + ".png")
        Image.fromarray(mask).save(path)
        assert Image.open(path).mode == "L"
        expected["aug_labels"][id_] = np.array(Image.open(path)).tolist()

    def write_list(path, ids, messy=False):
        with open(path, "w") as f:
            for k, id_ in enumerate(ids):
                # Real lists are clean; "messy" ones check that lines are stripped, blanks skipped.
                f.write((f"  {id_} \r\n\n" if messy and k == 0 else id_ + "\n"))

    seg_dir = os.path.join(voc, "ImageSets", "Segmentation")
    write_list(os.path.join(seg_dir, "train.txt"), VOC_TRAIN, messy=True)
    write_list(os.path.join(seg_dir, "val.txt"), VOC_VAL)
    write_list(os.path.join(seg_dir, "trainval.txt"), VOC_TRAIN + VOC_VAL)
    # mmseg voc_aug.py: list(set(...) - set(...)); the set order is arbitrary, written sorted here.
    trainaug = sorted(set(VOC_TRAIN + SBD_TRAIN + SBD_VAL) - set(VOC_VAL))
    aug = sorted(set(SBD_TRAIN + SBD_VAL) - set(VOC_TRAIN + VOC_VAL))
    write_list(os.path.join(seg_dir, "trainaug.txt"), trainaug)
    write_list(os.path.join(seg_dir, "aug.txt"), aug)
    write_list(os.path.join(sbd, "train.txt"), SBD_TRAIN)
    write_list(os.path.join(sbd, "val.txt"), SBD_VAL)
    expected["trainaug_set"] = trainaug
    expected["aug_set"] = aug
    with open(os.path.join(ROOT, "voc", "expected.json"), "w") as f:
        json.dump(expected, f)


def instances():
    """SBD's GTinst (inst/<id>.mat): Segmentation = instance index (0 background), Boundaries,
    Categories = the VOC class of each instance."""
    irng = np.random.default_rng(7)
    seg = irng.integers(0, 4, size=(6, 4), dtype=np.uint8)
    boundaries = np.empty((3, 1), dtype=object)
    for k in range(3):
        boundaries[k, 0] = scipy.sparse.csc_matrix(seg == k + 1)
    categories = np.array([[15], [7], [15]], dtype=np.uint8)
    path = os.path.join(ROOT, "sbd", "golden", "inst.mat")
    scipy.io.savemat(path, {"GTinst": {"Segmentation": seg, "Boundaries": boundaries, "Categories": categories}}, do_compression=True)
    loaded = scipy.io.loadmat(path)["GTinst"][0]
    expected = {
        "segmentation": loaded["Segmentation"][0].astype(np.uint8).tolist(),
        "categories": loaded["Categories"][0].ravel().tolist(),
    }
    with open(os.path.join(ROOT, "sbd", "golden", "inst_expected.json"), "w") as f:
        json.dump(expected, f)


golden()
trees()
instances()
