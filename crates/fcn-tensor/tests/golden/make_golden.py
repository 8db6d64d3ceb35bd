#!/usr/bin/env python3
"""Generate PyTorch golden values (forward + backward) for the fcn-tensor crate.

Produces ``golden.safetensors`` next to this script. Layout:

* every case has a unique snake_case name ``case``; its tensors are stored as
  ``{case}.{tensor}`` (float32 unless stated; ``indices``/``target``/argmax
  ``y`` are int64);
* safetensors metadata: key = case name, value = JSON dict with ``"op"`` and
  the op's parameters; key ``"__versions__"`` = JSON with torch/numpy/python
  versions and the seed.
* every non-loss case stores its inputs, output ``y``, upstream gradient
  ``gy`` (standard normal, same shape as ``y``) and gradients of
  ``(y * gy).sum()`` w.r.t. each float input (``g<name>``, e.g. ``gx``,
  ``gw``, ``gb``, ``ga``). Loss cases store ``loss`` (0-dim) and ``gx`` =
  d loss / d x directly (no ``gy``).

Conventions: NCHW; conv weight (out, in/groups, kh, kw); conv-transpose
weight (in, out/groups, kh, kw), exactly as PyTorch.

Run:   /root/venv-ref/bin/python make_golden.py
       (needs torch, numpy, safetensors; CPU, float32, torch.manual_seed(1234))
Tested with: torch 2.15.0+cu132 (run on CPU), numpy 2.4.6, safetensors 0.8.0,
Python 3 (see "__versions__" in the file metadata).
"""
import json
import os
import platform
import sys

import numpy as np
import torch
import torch.nn.functional as F
import struct

from safetensors.numpy import load_file
from safetensors import safe_open

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.safetensors")

torch.manual_seed(1234)
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)
DEV = torch.device("cpu")
DT = torch.float32

TENSORS = {}
META = {}


def randn(*shape):
    return torch.randn(*shape, dtype=DT, device=DEV)


def distinct(*shape):
    """Values that are pairwise distinct (scaled random permutation)."""
    n = int(np.prod(shape))
    perm = torch.randperm(n).to(DT)
    return ((perm - n / 2) / (n / 4)).reshape(shape)


def put(case, name, t):
    key = f"{case}.{name}"
    assert key not in TENSORS, key
    TENSORS[key] = t.detach().cpu().contiguous().numpy()


def record(case, params, inputs, fn, extra_out=None):
    """inputs: dict name -> tensor (float inputs get gradients)."""
    assert case not in META, case
    META[case] = json.dumps(params)
    leaves = {}
    for k, v in inputs.items():
        if v.is_floating_point():
            leaves[k] = v.detach().clone().requires_grad_(True)
        else:
            leaves[k] = v
    y = fn(**leaves)
    extra = None
    if isinstance(y, tuple):
        y, extra = y
    gy = randn(*y.shape)
    (y * gy).sum().backward()
    for k, v in inputs.items():
        put(case, k, v)
    put(case, "y", y)
    put(case, "gy", gy)
    for k, v in leaves.items():
        if v.is_floating_point():
            g = v.grad if v.grad is not None else torch.zeros_like(v)
            put(case, "g" + k, g)
    if extra is not None:
        for k, v in extra.items():
            put(case, k, v)


# 1. matmul ------------------------------------------------------------------
for i, (m, k, n) in enumerate([(7, 13, 5), (1, 9, 17), (33, 64, 31)]):
    record(f"matmul_{m}x{k}x{n}", {"op": "matmul", "M": m, "K": k, "N": n},
           {"a": randn(m, k), "b": randn(k, n)}, lambda a, b: a @ b)


# 2. conv2d ------------------------------------------------------------------
def conv_case(name, n, cin, cout, h, w, k, stride=(1, 1), padding=(0, 0),
              dilation=(1, 1), groups=1, bias=True):
    kh, kw = (k, k) if isinstance(k, int) else k
    p = {"op": "conv2d", "stride": list(stride), "padding": list(padding),
         "dilation": list(dilation), "groups": groups, "has_bias": bias,
         "kernel": [kh, kw]}
    inp = {"x": randn(n, cin, h, w), "w": randn(cout, cin // groups, kh, kw)}
    if bias:
        inp["b"] = randn(cout)
    record(name, p, inp, lambda x, w, b=None: F.conv2d(
        x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups))


conv_case("conv2d_k3_s1_p1", 2, 3, 5, 9, 11, 3, padding=(1, 1))
conv_case("conv2d_k3_s2_p1", 2, 3, 5, 10, 7, 3, stride=(2, 2), padding=(1, 1))
conv_case("conv2d_k5_s1_p2", 1, 3, 4, 9, 11, 5, padding=(2, 2))
conv_case("conv2d_k3_d2_p2", 2, 3, 4, 9, 11, 3, padding=(2, 2), dilation=(2, 2))
conv_case("conv2d_k7_fc6", 1, 4, 6, 9, 9, 7)
conv_case("conv2d_k1_score", 3, 8, 3, 5, 6, 1)
conv_case("conv2d_k3x2_s2x1_p1x0", 2, 3, 5, 9, 8, (3, 2), stride=(2, 1), padding=(1, 0))
conv_case("conv2d_groups2", 2, 4, 6, 7, 9, 3, padding=(1, 1), groups=2)
conv_case("conv2d_bigpad", 1, 3, 4, 3, 5, 3, padding=(4, 4))
conv_case("conv2d_nobias_n3", 3, 3, 5, 6, 7, 3, padding=(1, 1), bias=False)


# 3. conv_transpose2d --------------------------------------------------------
def convt_case(name, n, cin, cout, h, w, k, stride=(1, 1), padding=(0, 0),
               output_padding=(0, 0), dilation=(1, 1), groups=1, bias=True):
    kh, kw = (k, k) if isinstance(k, int) else k
    p = {"op": "conv_transpose2d", "stride": list(stride), "padding": list(padding),
         "output_padding": list(output_padding), "dilation": list(dilation),
         "groups": groups, "has_bias": bias, "kernel": [kh, kw]}
    inp = {"x": randn(n, cin, h, w), "w": randn(cin, cout // groups, kh, kw)}
    if bias:
        inp["b"] = randn(cout)
    record(name, p, inp, lambda x, w, b=None: F.conv_transpose2d(
        x, w, b, stride=stride, padding=padding, output_padding=output_padding,
        groups=groups, dilation=dilation))


convt_case("convt_k4_s2_up2", 1, 3, 3, 5, 7, 4, stride=(2, 2), bias=False)
convt_case("convt_k16_s8_up8", 1, 2, 2, 3, 4, 16, stride=(8, 8), bias=False)
convt_case("convt_k64_s32_up32", 1, 2, 2, 2, 3, 64, stride=(32, 32), bias=False)
convt_case("convt_k3_s2_p1_op1_bias", 2, 4, 5, 4, 5, 3, stride=(2, 2), padding=(1, 1),
           output_padding=(1, 1))
convt_case("convt_k2_s2_groups2", 2, 4, 6, 3, 5, 2, stride=(2, 2), groups=2)
convt_case("convt_k3_d2_s1", 1, 3, 2, 4, 5, 3, dilation=(2, 2))


# 4. max_pool2d --------------------------------------------------------------
def pool_case(name, x, k, s, pad, ceil):
    p = {"op": "max_pool2d", "kernel": list(k), "stride": list(s),
         "padding": list(pad), "ceil_mode": ceil}

    def fn(x):
        y, idx = F.max_pool2d(x, k, s, pad, ceil_mode=ceil, return_indices=True)
        return y, {"indices": idx}
    record(name, p, {"x": x}, fn)


pool_case("max_pool2d_k2_s2_ceil_7x9", distinct(2, 3, 7, 9), (2, 2), (2, 2), (0, 0), True)
pool_case("max_pool2d_k2_s2_floor_7x9", distinct(2, 3, 7, 9), (2, 2), (2, 2), (0, 0), False)
pool_case("max_pool2d_k3_s2_p1_ceil_8x5", distinct(1, 2, 8, 5), (3, 3), (2, 2), (1, 1), True)
pool_case("max_pool2d_k2_s2_ceil_1x3", distinct(1, 2, 1, 3), (2, 2), (2, 2), (0, 0), True)
pool_case("max_pool2d_fcn_11x11", distinct(2, 3, 11, 11), (2, 2), (2, 2), (0, 0), True)
# ceil_mode: last window dropped because it would start in the right padding
pool_case("max_pool2d_k3_s3_p1_ceil_5x7_drop", distinct(1, 2, 5, 7), (3, 3), (3, 3), (1, 1), True)
pool_case("max_pool2d_ties", torch.randint(0, 4, (1, 2, 7, 9)).to(DT), (3, 3), (2, 2),
          (1, 1), True)

# 5. relu --------------------------------------------------------------------
xr = torch.round(randn(2, 3, 5, 7) * 2) / 2  # many exact zeros (and -0.0 possible)
xr[0, 0, 0, :3] = torch.tensor([0.0, -0.0, 0.0])
record("relu_basic", {"op": "relu"}, {"x": xr}, lambda x: F.relu(x))

# 6. add / scale -------------------------------------------------------------
record("add_basic", {"op": "add"}, {"a": randn(2, 3, 5, 7), "b": randn(2, 3, 5, 7)},
       lambda a, b: a + b)
record("scale_0p01", {"op": "scale", "factor": 0.01}, {"x": randn(2, 3, 5, 7)},
       lambda x: x * 0.01)


# 7. crop --------------------------------------------------------------------
def crop_case(name, x, off, size):
    oh, ow = off
    h, w = size
    record(name, {"op": "crop", "offset": [oh, ow], "size": [h, w]}, {"x": x},
           lambda x: x[:, :, oh:oh + h, ow:ow + w])


crop_case("crop_off19", randn(1, 2, 30, 31), (19, 19), (8, 9))
crop_case("crop_off5", randn(2, 3, 13, 11), (5, 5), (7, 5))
crop_case("crop_off0x3", randn(1, 2, 6, 9), (0, 3), (6, 5))


# 8. argmax_channels (no gradient) --------------------------------------------
def argmax_case(name, x):
    META[name] = json.dumps({"op": "argmax_channels", "dim": 1})
    put(name, "x", x)
    put(name, "y", torch.argmax(x, dim=1))


argmax_case("argmax_channels_distinct", distinct(2, 5, 3, 4))
argmax_case("argmax_channels_ties", torch.randint(0, 3, (2, 6, 4, 5)).to(DT))


# 9. softmax_cross_entropy ---------------------------------------------------
def ce(x, t, reduction, weight=None):
    if reduction == "sum_over_batch":
        return F.cross_entropy(x, t, weight=weight, ignore_index=255,
                               reduction="sum") / x.shape[0]
    return F.cross_entropy(x, t, weight=weight, ignore_index=255, reduction="mean")


def ce_case(name, x, t, reduction, weight=None):
    p = {"op": "softmax_cross_entropy", "ignore_index": 255, "reduction": reduction}
    if weight is not None:
        p["weight"] = [float(v) for v in weight.tolist()]
    META[name] = json.dumps(p)
    xl = x.detach().clone().requires_grad_(True)
    loss = ce(xl, t, reduction, weight)
    loss.backward()
    put(name, "x", x)
    put(name, "target", t)
    put(name, "loss", loss)
    put(name, "gx", xl.grad)


def targets(n, c, h, w, n_ignore):
    t = torch.randint(0, c, (n, h, w))
    flat = t.view(-1)
    flat[torch.randperm(flat.numel())[:n_ignore]] = 255
    return t


x_s, t_s = randn(2, 5, 3, 4), targets(2, 5, 3, 4, 5)
x_l, t_l = (torch.rand(1, 21, 7, 6) * 100 - 50), targets(1, 21, 7, 6, 6)
w_s = torch.rand(5) * 2 + 0.1
for red in ("sum_over_batch", "mean"):
    ce_case(f"ce_small_{red}", x_s, t_s, red)
    ce_case(f"ce_large_logits_{red}", x_l, t_l, red)
    ce_case(f"ce_weighted_{red}", x_s, t_s, red, w_s)

# Behaviour probe (NOT stored): all pixels ignored.
_x = randn(1, 3, 2, 2).requires_grad_(True)
_t = torch.full((1, 2, 2), 255, dtype=torch.long)
for red in ("mean", "sum_over_batch"):
    _x.grad = None
    _l = ce(_x, _t, red)
    _l.backward()
    print(f"[probe] all-ignored CE reduction={red}: loss={_l.item()} "
          f"grad_all_zero={bool((_x.grad == 0).all())} grad_has_nan={bool(_x.grad.isnan().any())}")

# --------------------------------------------------------------------------------
META["__versions__"] = json.dumps({
    "torch": torch.__version__, "numpy": np.__version__,
    "python": platform.python_version(), "seed": 1234, "device": "cpu",
    "dtype": "float32"})


def save_deterministic(tensors, path, metadata):
    """Byte-reproducible safetensors writer (safetensors' own save_file emits
    the metadata map in hash order). Keys sorted, data in key order."""
    dtypes = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        a = np.array(tensors[k], order="C", copy=True)  # keeps 0-dim
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[k] = {"dtype": dtypes[a.dtype], "shape": list(a.shape),
                     "data_offsets": [off, off + len(raw)]}
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


save_deterministic(TENSORS, OUT, META)

# Verify --------------------------------------------------------------------
back = load_file(OUT)
assert set(back) == set(TENSORS)
for k in TENSORS:
    assert back[k].dtype == TENSORS[k].dtype and np.array_equal(back[k], TENSORS[k]), k
with safe_open(OUT, "np") as f:
    md = f.metadata()
cases = sorted(k for k in md if k != "__versions__")
for c in cases:
    params = json.loads(md[c])
    names = sorted(k[len(c) + 1:] for k in back if k.rsplit(".", 1)[0] == c)
    assert names, c
    print(f"{c}  {json.dumps(params)}")
    for nme in names:
        a = back[f"{c}.{nme}"]
        print(f"    {nme:8s} {str(a.dtype):8s} {list(a.shape)}")
print("versions:", json.loads(md["__versions__"]))
print(f"{len(cases)} cases, {len(back)} tensors, {os.path.getsize(OUT)} bytes -> {OUT}")
