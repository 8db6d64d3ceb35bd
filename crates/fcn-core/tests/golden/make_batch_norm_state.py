"""Golden file for fcn-core's BatchNorm state_dict test (tests/batch_norm_weights.rs).

Builds `torch.nn.Sequential(Conv2d(3, 4, 3, padding=1), BatchNorm2d(4))` with random weights,
a random BN affine transform and randomised running statistics and counter, and saves with
`safetensors.torch.save_file` its `state_dict` exactly as PyTorch names and types it
(`1.running_mean` / `1.running_var` f32, `1.num_batches_tracked` a 0-dimensional int64), plus
`input` and the eval-mode `output` (the test removes those two before loading). Run with the
reference venv:

    python crates/fcn-core/tests/golden/make_batch_norm_state.py

It writes batch_norm_state.safetensors beside itself.
"""

import os

import torch
import torch.nn as nn
from safetensors.torch import save_file

torch.manual_seed(14)
model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4, eps=1e-5, momentum=0.1))
with torch.no_grad():
    bn = model[1]
    bn.weight.copy_(1.0 + 0.3 * torch.randn(4))
    bn.bias.copy_(0.3 * torch.randn(4))
    bn.running_mean.copy_(0.5 * torch.randn(4))
    bn.running_var.copy_(0.5 + torch.rand(4))
    bn.num_batches_tracked.fill_(7)
model.eval()
x = torch.randn(2, 3, 5, 5)
with torch.no_grad():
    y = model(x)

tensors = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
assert tensors["1.num_batches_tracked"].dtype == torch.int64
tensors["input"] = x.contiguous()
tensors["output"] = y.contiguous()
here = os.path.dirname(os.path.abspath(__file__))
save_file(tensors, os.path.join(here, "batch_norm_state.safetensors"), metadata={"eps": "1e-5"})
