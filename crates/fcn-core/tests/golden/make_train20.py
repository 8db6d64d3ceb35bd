"""Golden losses for fcn-core's 20-step training parity test.

Trains pytorch-fcn's FCN-8s (the classes of make_parity.py, backbone widths / 32, 6 classes)
for 20 SGD steps on 4 fixed batches used in turn (batch 2, 3x40x48, dropout off), with
torchfcn's parameter groups (weights lr, biases 2 lr without decay, upsampling frozen),
momentum 0.99, weight decay 5e-4, and the loss summed over valid pixels / batch. Records the
initial weights, the batches and the 20 losses in train20_fcn8s.safetensors.

    python crates/fcn-core/tests/golden/make_train20.py
"""

import importlib.util
import json
import os

import torch
import torch.nn as nn
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("make_parity", os.path.join(HERE, "make_parity.py"))
parity = importlib.util.module_from_spec(spec)
spec.loader.exec_module(parity)

CLASSES, WIDTH, STEPS, LR = 6, 32, 20, 1e-6


def main():
    torch.set_num_threads(1)
    torch.manual_seed(20)
    model = parity.FCN8s(CLASSES, WIDTH)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.weight[0].numel()
            nn.init.normal_(m.weight, std=(2.0 / fan_in) ** 0.5)
            nn.init.uniform_(m.bias, -0.1, 0.1)
        elif isinstance(m, nn.ConvTranspose2d):
            m.weight.data.copy_(parity.get_upsampling_weight(
                m.in_channels, m.out_channels, m.kernel_size[0]))
            m.weight.requires_grad_(False)
    model.eval()  # dropout off
    out = {"param." + k: v.clone() for k, v in model.state_dict().items()}
    batches = []
    for b in range(4):
        x = torch.randn(2, 3, 40, 48) * 40.0
        # Labels with structure (a model can learn them) and some ignored pixels.
        t = ((torch.arange(48).view(1, 1, 48) // 8 + b) % CLASSES).expand(2, 40, 48).clone()
        t[torch.rand(2, 40, 48) < 0.05] = 255
        out[f"batch{b}.input"] = x
        out[f"batch{b}.target"] = t.to(torch.float32)
        batches.append((x, t))
    parity.LR = LR
    opt = parity.sgd_groups(model)
    losses = []
    for step in range(STEPS):
        x, t = batches[step % 4]
        opt.zero_grad()
        loss = parity.cross_entropy2d(model(x), t) / x.shape[0]
        loss.backward()
        opt.step()
        losses.append(loss.item())
    meta = {"num_classes": str(CLASSES), "width_divisor": str(WIDTH), "lr": repr(LR),
            "losses": json.dumps(losses), "torch": torch.__version__}
    out = {k: v.contiguous().to(torch.float32) for k, v in out.items()}
    save_file(out, os.path.join(HERE, "train20_fcn8s.safetensors"), metadata=meta)
    print("losses", [round(l, 3) for l in losses])


if __name__ == "__main__":
    main()
