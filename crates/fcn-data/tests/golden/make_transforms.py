"""Golden values for fcn-data's transforms, from the reference tools.

Run from this folder with the reference venv:
    /root/venv-ref/bin/python make_transforms.py
It writes transforms.json (committed), read by tests/transforms.rs:

- resize: Pillow `Image.resize((w, h), BILINEAR)` of RGB images and `Image.resize((w, h),
  NEAREST)` of 8-bit (mode L) label maps, over shrinking, growing and mixed sizes;
- caffe: FCN's `voc_layers.py` preprocessing (float32, RGB->BGR, minus the float64 BGR mean,
  HWC->CHW);
- imagenet: torchvision's ToTensor + Normalize written in torch (float32: x / 255, then
  sub_(mean).div_(std)), CHW.
"""
import json

import numpy as np
import PIL
import torch
from PIL import Image

rng = np.random.RandomState(20261127)


def image(h, w):
    # Smooth gradients plus noise, so interpolation errors show.
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) * 7 % 256], -1)
    noise = rng.randint(-40, 41, size=(h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


cases = []
for (h, w), sizes in [
    ((13, 17), [(5, 7), (29, 40), (13, 30), (6, 17), (40, 9), (1, 1), (13, 17), (7, 30), (12, 18)]),
    ((37, 50), [(24, 33), (11, 16), (40, 47), (19, 25)]),
    ((2, 500), [(1, 321), (1, 333), (1, 777), (2, 499)]),
]:
    img = image(h, w)
    label = rng.randint(0, 256, size=(h, w)).astype(np.uint8)
    out = []
    for oh, ow in sizes:
        bil = np.asarray(Image.fromarray(img, "RGB").resize((ow, oh), Image.BILINEAR))
        near = np.asarray(Image.fromarray(label, "L").resize((ow, oh), Image.NEAREST))
        out.append(
            {
                "height": oh,
                "width": ow,
                "bilinear": bil.reshape(-1).tolist(),
                "nearest": near.reshape(-1).tolist(),
            }
        )
    cases.append(
        {
            "height": h,
            "width": w,
            "image": img.reshape(-1).tolist(),
            "label": label.reshape(-1).tolist(),
            "outputs": out,
        }
    )

# Normalisations on every byte value (a 16 x 16 x 3 image holding 0..255 in each channel).
norm = np.stack(
    [np.arange(256), (np.arange(256) * 7) % 256, (np.arange(256) * 13 + 5) % 256], -1
).reshape(16, 16, 3).astype(np.uint8)

# fcn voc_layers.py load_image.
mean = np.array((104.00698793, 116.66876762, 122.67891434))
in_ = np.array(norm, dtype=np.float32)
in_ = in_[:, :, ::-1]
in_ -= mean
caffe = in_.transpose((2, 0, 1))

t = torch.from_numpy(norm).permute(2, 0, 1).contiguous().float().div(255)
t.sub_(torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)).div_(
    torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
)
imagenet = t.numpy()

golden = {
    "generator": "tests/golden/make_transforms.py",
    "pillow": PIL.__version__,
    "numpy": np.__version__,
    "torch": torch.__version__,
    "resize": cases,
    "normalize": {
        "height": 16,
        "width": 16,
        "image": norm.reshape(-1).tolist(),
        "caffe": [float(v) for v in caffe.reshape(-1)],
        "imagenet": [float(v) for v in imagenet.reshape(-1)],
    },
}
with open("transforms.json", "w") as f:
    json.dump(golden, f, separators=(",", ":"))
