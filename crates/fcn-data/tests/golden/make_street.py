"""Golden values for the street-scene adapters (cityscapes, ade20k, folder presets, taxonomy).

Run from crates/fcn-data/tests with the reference venv:
    /root/venv-ref/bin/pip install --no-deps cityscapesscripts==2.3.0
    /root/venv-ref/bin/python golden/make_street.py
It reads the copied fixtures under data/, writes golden/street.json and
golden/cityscapes_trainids_from_labelids.png, and builds the tiny RailSem19 tree in
data/railsem19 (no public sample exists). Labels are read as mmseg reads them:
np.array(PIL.Image.open(path)).
"""
import json
import os

import numpy as np
from PIL import Image
from cityscapesscripts.helpers.labels import labels as cs_labels

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")


def load(path):
    return np.array(Image.open(path))


def checksum(a):
    """Position-sensitive: sum of value * ((row-major index % 65521) + 1)."""
    flat = a.astype(np.int64).ravel()
    weights = (np.arange(flat.size, dtype=np.int64) % 65521) + 1
    return int((flat * weights).sum())


def histogram(a):
    values, counts = np.unique(a, return_counts=True)
    return {str(int(v)): int(c) for v, c in zip(values, counts)}


def describe(a):
    return {"shape": list(a.shape), "histogram": histogram(a), "checksum": checksum(a)}


out = {}

# --- Cityscapes: the label table and the id -> trainId LUT (default 255, ids < 0 skipped).
out["cityscapes_labels"] = [
    {"name": l.name, "id": l.id, "trainId": l.trainId, "category": l.category,
     "categoryId": l.categoryId, "hasInstances": l.hasInstances,
     "ignoreInEval": l.ignoreInEval, "color": list(l.color)}
    for l in cs_labels
]
lut = np.full(256, 255, dtype=np.uint8)
for l in cs_labels:
    if l.id >= 0 and l.trainId >= 0:
        lut[l.id] = l.trainId
out["cityscapes_lut"] = lut.tolist()
gt = os.path.join(DATA, "cityscapes/gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_")
label_ids = load(gt + "labelIds.png")
train_ids = lut[label_ids]
Image.fromarray(train_ids, mode="L").save(os.path.join(HERE, "cityscapes_trainids_from_labelids.png"))
shipped = load(gt + "labelTrainIds.png")
instances = load(gt + "instanceIds.png")
semantic = np.where(instances >= 1000, instances // 1000, instances)
out["cityscapes"] = {
    "label_ids": describe(label_ids),
    "train_ids_from_lut": describe(train_ids),
    "shipped_train_ids": describe(shipped),
    "shipped_differs_from_lut": int((shipped != train_ids).sum()),
    "instance_ids": describe(instances),
    "instance_semantic_equals_label_ids": bool((semantic == label_ids).all()),
    "image": describe(load(os.path.join(DATA, "cityscapes/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png"))),
}

# --- ADE20K SceneParsing: mmseg reduce_zero_label, in mmseg's order.
ann = load(os.path.join(DATA, "ade20k/ADEChallengeData2016/annotations/training/ADE_train_00000001.png"))
reduced = ann.copy()
reduced[reduced == 0] = 255
reduced = reduced - 1
reduced[reduced == 254] = 255
out["ade20k"] = {"raw": describe(ann), "reduced": describe(reduced)}

# --- ADE20K full format: utils_ade20k.loadAde20K.
seg = load(os.path.join(DATA, "ade20k/full/ADE_train_00016964_seg.png"))
R, G, B = seg[:, :, 0], seg[:, :, 1], seg[:, :, 2]
classes = (R / 10).astype(np.int32) * 256 + G.astype(np.int32)
instances_full = np.unique(B, return_inverse=True)[1].reshape(B.shape)
with open(os.path.join(DATA, "ade20k/full/ADE_train_00016964.json"), encoding="utf-8") as f:
    objects = json.load(f)["annotation"]["object"]
out["ade20k_full"] = {
    "classes": describe(classes),
    "instances": describe(instances_full),
    "json_name_ndx": sorted({o["name_ndx"] for o in objects if o["parts"]["part_level"] == 0}),
}

# --- Palette / L-mode label PNGs read by the folder presets.
def labels_under(folder, suffix):
    result = {}
    for dirpath, _, files in os.walk(os.path.join(DATA, folder)):
        for name in sorted(files):
            if name.endswith(suffix):
                path = os.path.join(dirpath, name)
                result[os.path.relpath(path, DATA)] = describe(load(path))
    return dict(sorted(result.items()))

out["folder_labels"] = labels_under("folder/gts", ".png")
out["mapillary_labels"] = labels_under("mapillary/training", ".png")
out["bdd100k_labels"] = labels_under("bdd100k/labels/sem_seg/masks", ".png")

# --- RailSem19: a tiny tree in the documented layout.
RS19 = [
    ("road", [128, 64, 128]), ("sidewalk", [244, 35, 232]), ("construction", [70, 70, 70]),
    ("tram-track", [192, 0, 128]), ("fence", [190, 153, 153]), ("pole", [153, 153, 153]),
    ("traffic-light", [250, 170, 30]), ("traffic-sign", [220, 220, 0]),
    ("vegetation", [107, 142, 35]), ("terrain", [152, 251, 152]), ("sky", [70, 130, 180]),
    ("human", [220, 20, 60]), ("rail-track", [230, 150, 140]), ("car", [0, 0, 142]),
    ("truck", [0, 0, 70]), ("trackbed", [90, 40, 40]), ("on-rails", [0, 80, 100]),
    ("rail-raised", [0, 254, 254]), ("rail-embedded", [0, 68, 63]),
]
rs_root = os.path.join(DATA, "railsem19")
os.makedirs(os.path.join(rs_root, "jpgs/rs19_val"), exist_ok=True)
os.makedirs(os.path.join(rs_root, "uint8/rs19_val"), exist_ok=True)
with open(os.path.join(rs_root, "rs19-config.json"), "w", encoding="utf-8") as f:
    json.dump({"labels": [{"name": n, "color": c, "readable": n.replace("-", " ").title()}
                          for n, c in RS19]}, f, indent=1)
# The same classes as a class-map file, and a split list, for the configuration-only setup of
# docs/new-transit-feed.md.
with open(os.path.join(rs_root, "classes.txt"), "w", encoding="utf-8") as f:
    f.write("# RailSem19 classes for the generic folder adapter (docs/new-transit-feed.md)\n")
    for i, (n, c) in enumerate(RS19):
        f.write(f"{i},{n},{c[0]},{c[1]},{c[2]}\n")
    f.write("ignore 255\n")
os.makedirs(os.path.join(rs_root, "splits"), exist_ok=True)
with open(os.path.join(rs_root, "splits/train.txt"), "w", encoding="utf-8") as f:
    f.write("rs07499\nrs00000\n")
rng = np.random.default_rng(19)
out["railsem19_labels"] = {}
for frame in (0, 7499, 7500):
    stem = f"rs{frame:05d}"
    image = rng.integers(0, 256, size=(4, 6, 3), dtype=np.uint8)
    Image.fromarray(image, mode="RGB").save(os.path.join(rs_root, "jpgs/rs19_val", stem + ".jpg"), quality=95)
    label = rng.integers(0, 19, size=(4, 6), dtype=np.uint8)
    label[0, 0] = 255
    Image.fromarray(label, mode="L").save(os.path.join(rs_root, "uint8/rs19_val", stem + ".png"))
    out["railsem19_labels"][stem] = describe(label)

# --- Pillow's polygon filler (ImageDraw.polygon, fill only, mode L), which cityscapesScripts'
# createTrainIdLabelImgs.py uses to rasterise _polygons.json.
import PIL
from PIL import ImageDraw

out["pillow_version"] = PIL.__version__
prng = np.random.default_rng(2024)
cases = []
W, H = 37, 29
for case in range(300):
    kind = case % 6
    n = int(prng.integers(2, 11))
    if kind == 0:    # inside the canvas
        pts = prng.integers(0, [W, H], size=(n, 2))
    elif kind == 1:  # reaching outside
        pts = prng.integers(-8, [W + 8, H + 8], size=(n, 2))
    elif kind == 2:  # axis-aligned: horizontal and vertical runs, repeated points
        pts = prng.integers(0, 6, size=(n, 2)) * 6
    elif kind == 3:  # fractional coordinates (truncated towards zero)
        pts = prng.uniform(-3, [W + 3, H + 3], size=(n, 2)).round(2)
    elif kind == 4:  # thin slivers
        base = prng.integers(0, [W, H], size=(1, 2))
        pts = base + prng.integers(-2, 3, size=(n, 2))
    else:            # large shapes with steep and shallow edges
        pts = prng.integers(-20, [W + 20, H + 20], size=(n, 2))
    points = [[float(x), float(y)] if kind == 3 else [int(x), int(y)] for x, y in pts]
    im = Image.new("L", (W, H), 0)
    ImageDraw.Draw(im).polygon([tuple(p) for p in points], fill=1)
    a = np.array(im)
    cases.append({"points": points, "count": int(a.sum()), "checksum": checksum(a)})
out["pillow_polygons"] = {"width": W, "height": H, "cases": cases}

# --- cityscapesScripts json2labelImg on a small hand-made polygons file.
from cityscapesscripts.helpers.annotation import Annotation
from cityscapesscripts.preparation.json2labelImg import createLabelImage

poly_json = os.path.join(DATA, "cityscapes/polygons/test_000000_000000_gtFine_polygons.json")
annotation = Annotation()
annotation.fromJsonFile(poly_json)
for encoding in ("ids", "trainIds"):
    image = createLabelImage(annotation, encoding)
    Image.fromarray(np.array(image), mode="L").save(os.path.join(HERE, f"cityscapes_polygons_{encoding}.png"))

# --- COCO category names (the fixture's 80 categories, by id) for the taxonomy table check.
COCO = "/work/shared/fixtures/coco/cocotools_rs_coco_25k/annotations.json"
with open(COCO, encoding="utf-8") as f:
    out["coco80_names"] = [c["name"] for c in sorted(json.load(f)["categories"], key=lambda c: c["id"])]

with open(os.path.join(HERE, "street.json"), "w", encoding="utf-8") as f:
    # One line per polygon case keeps the file small and readable.
    cases = out.pop("pillow_polygons")
    text = json.dumps(out, indent=1, sort_keys=True)
    case_lines = ",\n".join("  " + json.dumps(c, sort_keys=True) for c in cases["cases"])
    polygons = (f'{{"cases": [\n{case_lines}\n ], "height": {cases["height"]}, '
                f'"width": {cases["width"]}}}')
    text = text[:-2] + f',\n "pillow_polygons": {polygons}\n}}'
    f.write(text)
    f.write("\n")
print("wrote golden/street.json")
