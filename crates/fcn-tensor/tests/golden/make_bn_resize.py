#!/usr/bin/env python3
"""PyTorch golden values for batch normalisation, bilinear resizing, channel concatenation and
global average pooling (forward and backward), written to ``bn_resize.safetensors`` beside this
script with the layout of ``make_golden.py``:

* tensors ``{case}.{name}`` (float32); metadata key = case, value = JSON ``{"op": ..., params}``;
  ``__versions__`` holds the versions and the seed;
* every case stores its inputs, the output ``y``, an upstream gradient ``gy`` (standard normal)
  and ``g<input>`` = d(sum(y * gy)) / d input for each float input that takes a gradient.

Ops and what each case adds:

* ``batch_norm``: ``F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum,
  eps)``; inputs ``x`` (and ``weight``, ``bias`` when affine), ``running_mean``/``running_var``
  before the call; ``running_mean_out``/``running_var_out`` after it (updated in training);
  gradients ``gx`` (and ``gweight``, ``gbias``).
* ``interpolate``: ``F.interpolate(x, size=size, mode="bilinear", align_corners=...)`` with
  only the size given (PyTorch's scale in / out); ``gx``.
* ``cat``: ``torch.cat([x0, x1, ...], dim=1)``; ``gx0``, ``gx1``, ...
* ``adaptive_avg_pool2d``: ``F.adaptive_avg_pool2d(x, 1)``; ``gx``.

Run: ``/work/venv/bin/python make_bn_resize.py`` (torch, numpy, safetensors; CPU, float32,
seed 1414, one thread).
"""
import json
import os
import platform
import struct

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bn_resize.safetensors")
SEED = 1414

torch.manual_seed(SEED)
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

TENSORS = {}
META = {}


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float32)


def put(case, name, t):
    key = f"{case}.{name}"
    assert key not in TENSORS, key
    TENSORS[key] = t.detach().cpu().contiguous().numpy()


def record(case, params, inputs, fn, grad_inputs):
    """Runs fn(**inputs), stores inputs, y, gy and the gradients of the inputs named."""
    assert case not in META, case
    META[case] = json.dumps(params)
    leaves = {}
    for name, value in inputs.items():
        leaf = value.detach().clone()
        if name in grad_inputs:
            leaf.requires_grad_(True)
        leaves[name] = leaf
        put(case, name, value)
    y = fn(**leaves)
    gy = randn(*y.shape)
    (y * gy).sum().backward()
    put(case, "y", y)
    put(case, "gy", gy)
    for name in grad_inputs:
        put(case, "g" + name, leaves[name].grad)
    return leaves


def batch_norm_cases():
    shapes = [(2, 3, 4, 5), (4, 2, 3, 3), (3, 5, 1, 1), (1, 4, 6, 7)]
    for shape in shapes:
        c = shape[1]
        for training in (True, False):
            for affine in (True, False):
                momentum = 0.1 if affine else 0.3
                eps = 1e-5 if training else 1e-3
                name = "batch_norm_{}_{}_{}".format(
                    "x".join(map(str, shape)),
                    "train" if training else "eval",
                    "affine" if affine else "plain",
                )
                # Inputs off-centre and scaled, so the statistics matter.
                x = randn(*shape) * 2.0 + 0.5
                inputs = {"x": x}
                if affine:
                    inputs["weight"] = randn(c) * 0.5 + 1.0
                    inputs["bias"] = randn(c) * 0.5
                running_mean = randn(c) * 0.3
                running_var = torch.rand(c) + 0.5
                put(name, "running_mean", running_mean)
                put(name, "running_var", running_var)
                rm, rv = running_mean.clone(), running_var.clone()

                def fn(x, weight=None, bias=None, rm=rm, rv=rv, training=training,
                       momentum=momentum, eps=eps):
                    return F.batch_norm(x, rm, rv, weight, bias, training, momentum, eps)

                grads = ["x"] + (["weight", "bias"] if affine else [])
                record(
                    name,
                    {
                        "op": "batch_norm",
                        "training": training,
                        "affine": affine,
                        "momentum": momentum,
                        "eps": eps,
                    },
                    inputs,
                    fn,
                    grads,
                )
                put(name, "running_mean_out", rm)
                put(name, "running_var_out", rv)


def interpolate_cases():
    cases = [
        ((2, 3, 5, 7), (9, 4)),    # up in height, down in width
        ((1, 2, 4, 4), (8, 8)),    # exact 2x
        ((1, 1, 7, 5), (3, 2)),    # odd down-scaling
        ((1, 2, 3, 3), (1, 1)),    # to one pixel
        ((1, 1, 1, 1), (3, 3)),    # from one pixel
        ((2, 2, 6, 5), (6, 11)),   # one axis unchanged
        ((1, 3, 5, 4), (17, 13)),  # large odd up-scaling
    ]
    for shape, size in cases:
        for align_corners in (False, True):
            name = "interpolate_{}_to_{}_{}".format(
                "x".join(map(str, shape)),
                "x".join(map(str, size)),
                "aligned" if align_corners else "half_pixel",
            )

            def fn(x, size=size, align_corners=align_corners):
                return F.interpolate(x, size=size, mode="bilinear", align_corners=align_corners)

            record(
                name,
                {"op": "interpolate", "size": list(size), "align_corners": align_corners},
                {"x": randn(*shape)},
                fn,
                ["x"],
            )


def cat_cases():
    for channels, (n, h, w) in [([1, 3, 2], (2, 3, 3)), ([4, 4], (1, 2, 5)), ([2], (3, 1, 1))]:
        name = "cat_{}_{}x{}x{}".format("_".join(map(str, channels)), n, h, w)
        inputs = {f"x{i}": randn(n, c, h, w) for i, c in enumerate(channels)}

        def fn(**xs):
            return torch.cat([xs[f"x{i}"] for i in range(len(xs))], dim=1)

        record(name, {"op": "cat", "parts": len(channels)}, inputs, fn, list(inputs))


def avg_pool_cases():
    for shape in [(2, 3, 5, 4), (1, 1, 1, 1), (3, 2, 7, 9)]:
        name = "adaptive_avg_pool2d_{}".format("x".join(map(str, shape)))
        record(
            name,
            {"op": "adaptive_avg_pool2d"},
            {"x": randn(*shape)},
            lambda x: F.adaptive_avg_pool2d(x, 1),
            ["x"],
        )


def save_deterministic(tensors, path, metadata):
    """Byte-reproducible safetensors writer (as make_golden.py: safetensors' own save_file
    emits the metadata map in hash order). Keys sorted, data in key order."""
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        a = np.array(tensors[k], order="C", copy=True)
        assert a.dtype == np.float32, k
        raw = a.astype("<f4", copy=False).tobytes()
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = dict(sorted(metadata.items()))
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)


def main():
    batch_norm_cases()
    interpolate_cases()
    cat_cases()
    avg_pool_cases()
    META["__versions__"] = json.dumps(
        {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "seed": SEED,
        }
    )
    save_deterministic(TENSORS, OUT, META)
    back = load_file(OUT)
    assert sorted(back) == sorted(TENSORS)
    for k, v in TENSORS.items():
        assert np.array_equal(back[k], v), k
    print(f"wrote {len(META) - 1} cases, {len(TENSORS)} tensors to {OUT}")


if __name__ == "__main__":
    main()
