"""Makes tests/data/bad/: malformed files that every reader must refuse with an error naming them.

Run from the crate root after make_sbd.py:  /root/venv-ref/bin/python tests/golden/make_bad.py
"""
import os
import shutil
import zlib

import numpy as np
import scipy.io
from PIL import Image

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
BAD = os.path.join(DATA, "bad")
VOC = os.path.join(DATA, "voc", "VOC2012")
os.makedirs(BAD, exist_ok=True)

good_png = open(os.path.join(VOC, "SegmentationClass", "2007_000032.png"), "rb").read()
open(os.path.join(BAD, "truncated.png"), "wb").write(good_png[: len(good_png) // 2])
Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(os.path.join(BAD, "rgb_label.png"))

good_mat = open(os.path.join(DATA, "sbd", "golden", "uncompressed.mat"), "rb").read()
open(os.path.join(BAD, "truncated.mat"), "wb").write(good_mat[:600])
compressed = bytearray(open(os.path.join(DATA, "sbd", "golden", "compressed.mat"), "rb").read())
compressed[150:160] = b"\xff" * 10  # inside the zlib stream of the only variable
open(os.path.join(BAD, "corrupt_zlib.mat"), "wb").write(bytes(compressed))
scipy.io.savemat(os.path.join(BAD, "no_gtcls.mat"), {"GTinst": {"Segmentation": np.zeros((2, 2), np.uint8)}})
scipy.io.savemat(os.path.join(BAD, "seg_out_of_range.mat"), {"GTcls": {"Segmentation": np.full((2, 2), 300.0)}})

# A VOC tree: train.txt names an id without a label (line 3); trainval.txt one with a truncated
# label; val.txt one whose label is not the image's size.
root = os.path.join(BAD, "VOC2012")
for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
    os.makedirs(os.path.join(root, d), exist_ok=True)
for id_ in ("a", "b", "c"):
    shutil.copy(os.path.join(VOC, "JPEGImages", "2007_000032.jpg"), os.path.join(root, "JPEGImages", id_ + ".jpg"))
shutil.copy(os.path.join(BAD, "truncated.png"), os.path.join(root, "SegmentationClass", "a.png"))
Image.fromarray(np.zeros((3, 3), np.uint8)).save(os.path.join(root, "SegmentationClass", "c.png"))
sets = os.path.join(root, "ImageSets", "Segmentation")
open(os.path.join(sets, "train.txt"), "w").write("a\n\nb\n")
open(os.path.join(sets, "trainval.txt"), "w").write("a\n")
open(os.path.join(sets, "val.txt"), "w").write("c\n")
