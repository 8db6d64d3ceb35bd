"""Golden values for fcn-core's PyTorch parity tests.

Builds FCN-32s, FCN-16s, FCN-8s and FCN-8s at-once exactly as wkentaro/pytorch-fcn (torchfcn/models/fcn*.py:
same layers, names, padding 100, ceil pooling, crop offsets 19 / 5, 27 / 5, 9, 31, bilinear
upsampling) with the backbone widths divided by WIDTH_DIVISOR so the files stay small, random
non-zero weights everywhere (score layers included), and records for each model:

  input, target, every parameter, the logits, the loss (torchfcn's cross_entropy2d, summed over
  valid pixels, divided by the batch size), every trainable parameter's gradient, and the
  parameters after two SGD steps (and both losses) with torchfcn's parameter groups (weights lr, biases 2 lr and
  no decay, upsampling frozen), momentum 0.99, weight decay 5e-4.

Dropout is off (eval mode), as a parity test needs. Run with the reference venv:

    python crates/fcn-core/tests/golden/make_parity.py

It writes parity_{fcn32s,fcn16s,fcn8s,fcn8s-atonce}.safetensors beside itself.
"""

import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

WIDTH_DIVISOR = 32
NUM_CLASSES = 5
BATCH, HEIGHT, WIDTH = 2, 36, 44
LR = 1e-7
HERE = os.path.dirname(os.path.abspath(__file__))


def get_upsampling_weight(in_channels, out_channels, kernel_size):
    """torchfcn.models.fcn32s.get_upsampling_weight, verbatim."""
    factor = (kernel_size + 1) // 2
    if kernel_size % 2 == 1:
        center = factor - 1
    else:
        center = factor - 0.5
    og = np.ogrid[:kernel_size, :kernel_size]
    filt = (1 - abs(og[0] - center) / factor) * (1 - abs(og[1] - center) / factor)
    weight = np.zeros((in_channels, out_channels, kernel_size, kernel_size), dtype=np.float64)
    weight[range(in_channels), range(out_channels), :, :] = filt
    return torch.from_numpy(weight).float()


class Backbone(nn.Module):
    """The shared part of torchfcn's FCN32s / FCN16s / FCN8s, widths divided."""

    def __init__(self, n_class, d):
        super().__init__()
        c1, c2, c3, c4, c5, fc = 64 // d, 128 // d, 256 // d, 512 // d, 512 // d, 4096 // d
        self.conv1_1 = nn.Conv2d(3, c1, 3, padding=100)
        self.relu1_1 = nn.ReLU(inplace=True)
        self.conv1_2 = nn.Conv2d(c1, c1, 3, padding=1)
        self.relu1_2 = nn.ReLU(inplace=True)
        self.pool1 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.conv2_1 = nn.Conv2d(c1, c2, 3, padding=1)
        self.relu2_1 = nn.ReLU(inplace=True)
        self.conv2_2 = nn.Conv2d(c2, c2, 3, padding=1)
        self.relu2_2 = nn.ReLU(inplace=True)
        self.pool2 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.conv3_1 = nn.Conv2d(c2, c3, 3, padding=1)
        self.relu3_1 = nn.ReLU(inplace=True)
        self.conv3_2 = nn.Conv2d(c3, c3, 3, padding=1)
        self.relu3_2 = nn.ReLU(inplace=True)
        self.conv3_3 = nn.Conv2d(c3, c3, 3, padding=1)
        self.relu3_3 = nn.ReLU(inplace=True)
        self.pool3 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.conv4_1 = nn.Conv2d(c3, c4, 3, padding=1)
        self.relu4_1 = nn.ReLU(inplace=True)
        self.conv4_2 = nn.Conv2d(c4, c4, 3, padding=1)
        self.relu4_2 = nn.ReLU(inplace=True)
        self.conv4_3 = nn.Conv2d(c4, c4, 3, padding=1)
        self.relu4_3 = nn.ReLU(inplace=True)
        self.pool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.conv5_1 = nn.Conv2d(c4, c5, 3, padding=1)
        self.relu5_1 = nn.ReLU(inplace=True)
        self.conv5_2 = nn.Conv2d(c5, c5, 3, padding=1)
        self.relu5_2 = nn.ReLU(inplace=True)
        self.conv5_3 = nn.Conv2d(c5, c5, 3, padding=1)
        self.relu5_3 = nn.ReLU(inplace=True)
        self.pool5 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.fc6 = nn.Conv2d(c5, fc, 7)
        self.relu6 = nn.ReLU(inplace=True)
        self.drop6 = nn.Dropout2d()
        self.fc7 = nn.Conv2d(fc, fc, 1)
        self.relu7 = nn.ReLU(inplace=True)
        self.drop7 = nn.Dropout2d()
        self.score_fr = nn.Conv2d(fc, n_class, 1)
        self.c3, self.c4 = c3, c4

    def features(self, x):
        h = x
        h = self.relu1_1(self.conv1_1(h))
        h = self.relu1_2(self.conv1_2(h))
        h = self.pool1(h)
        h = self.relu2_1(self.conv2_1(h))
        h = self.relu2_2(self.conv2_2(h))
        h = self.pool2(h)
        h = self.relu3_1(self.conv3_1(h))
        h = self.relu3_2(self.conv3_2(h))
        h = self.relu3_3(self.conv3_3(h))
        h = self.pool3(h)
        pool3 = h
        h = self.relu4_1(self.conv4_1(h))
        h = self.relu4_2(self.conv4_2(h))
        h = self.relu4_3(self.conv4_3(h))
        h = self.pool4(h)
        pool4 = h
        h = self.relu5_1(self.conv5_1(h))
        h = self.relu5_2(self.conv5_2(h))
        h = self.relu5_3(self.conv5_3(h))
        h = self.pool5(h)
        h = self.relu6(self.fc6(h))
        h = self.drop6(h)
        h = self.relu7(self.fc7(h))
        h = self.drop7(h)
        return pool3, pool4, self.score_fr(h)


class FCN32s(Backbone):
    def __init__(self, n_class, d):
        super().__init__(n_class, d)
        self.upscore = nn.ConvTranspose2d(n_class, n_class, 64, stride=32, bias=False)

    def forward(self, x):
        _, _, h = self.features(x)
        h = self.upscore(h)
        return h[:, :, 19:19 + x.size()[2], 19:19 + x.size()[3]].contiguous()


class FCN16s(Backbone):
    def __init__(self, n_class, d):
        super().__init__(n_class, d)
        self.score_pool4 = nn.Conv2d(self.c4, n_class, 1)
        self.upscore2 = nn.ConvTranspose2d(n_class, n_class, 4, stride=2, bias=False)
        self.upscore16 = nn.ConvTranspose2d(n_class, n_class, 32, stride=16, bias=False)

    def forward(self, x):
        _, pool4, h = self.features(x)
        h = self.upscore2(h)
        upscore2 = h
        h = self.score_pool4(pool4)
        h = h[:, :, 5:5 + upscore2.size()[2], 5:5 + upscore2.size()[3]]
        h = upscore2 + h
        h = self.upscore16(h)
        return h[:, :, 27:27 + x.size()[2], 27:27 + x.size()[3]].contiguous()


class FCN8s(Backbone):
    def __init__(self, n_class, d):
        super().__init__(n_class, d)
        self.score_pool3 = nn.Conv2d(self.c3, n_class, 1)
        self.score_pool4 = nn.Conv2d(self.c4, n_class, 1)
        self.upscore2 = nn.ConvTranspose2d(n_class, n_class, 4, stride=2, bias=False)
        self.upscore8 = nn.ConvTranspose2d(n_class, n_class, 16, stride=8, bias=False)
        self.upscore_pool4 = nn.ConvTranspose2d(n_class, n_class, 4, stride=2, bias=False)

    def forward(self, x):
        pool3, pool4, h = self.features(x)
        h = self.upscore2(h)
        upscore2 = h
        h = self.score_pool4(pool4)
        h = h[:, :, 5:5 + upscore2.size()[2], 5:5 + upscore2.size()[3]]
        h = upscore2 + h
        h = self.upscore_pool4(h)
        upscore_pool4 = h
        h = self.score_pool3(pool3)
        h = h[:, :, 9:9 + upscore_pool4.size()[2], 9:9 + upscore_pool4.size()[3]]
        h = upscore_pool4 + h
        h = self.upscore8(h)
        return h[:, :, 31:31 + x.size()[2], 31:31 + x.size()[3]].contiguous()


class FCN8sAtOnce(FCN8s):
    """torchfcn.models.FCN8sAtOnce: pool4 x 0.01 and pool3 x 0.0001 before scoring."""

    def forward(self, x):
        pool3, pool4, h = self.features(x)
        h = self.upscore2(h)
        upscore2 = h
        h = self.score_pool4(pool4 * 0.01)
        h = h[:, :, 5:5 + upscore2.size()[2], 5:5 + upscore2.size()[3]]
        h = upscore2 + h
        h = self.upscore_pool4(h)
        upscore_pool4 = h
        h = self.score_pool3(pool3 * 0.0001)
        h = h[:, :, 9:9 + upscore_pool4.size()[2], 9:9 + upscore_pool4.size()[3]]
        h = upscore_pool4 + h
        h = self.upscore8(h)
        return h[:, :, 31:31 + x.size()[2], 31:31 + x.size()[3]].contiguous()


def cross_entropy2d(input, target):
    """torchfcn.trainer.cross_entropy2d with size_average=False (ignore = negative labels
    there; 255 here, which is the same set of pixels once mapped)."""
    return F.cross_entropy(input, target, ignore_index=255, reduction="sum")


def sgd_groups(model):
    """torchfcn's get_parameters: conv weights at lr, conv biases at 2 lr without decay;
    ConvTranspose2d weights are left out (frozen bilinear)."""
    weights, biases = [], []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            weights.append(m.weight)
            biases.append(m.bias)
    return torch.optim.SGD(
        [{"params": weights}, {"params": biases, "lr": LR * 2, "weight_decay": 0}],
        lr=LR,
        momentum=0.99,
        weight_decay=5e-4,
    )


def make(arch, cls, seed):
    torch.manual_seed(seed)
    model = cls(NUM_CLASSES, WIDTH_DIVISOR)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            # Random, non-zero everywhere (score layers too), scaled to keep activations O(1).
            fan_in = m.weight[0].numel()
            nn.init.normal_(m.weight, std=(2.0 / fan_in) ** 0.5)
            nn.init.uniform_(m.bias, -0.1, 0.1)
        elif isinstance(m, nn.ConvTranspose2d):
            m.weight.data.copy_(get_upsampling_weight(m.in_channels, m.out_channels, m.kernel_size[0]))
            m.weight.requires_grad_(False)
    model.eval()  # dropout off
    x = torch.randn(BATCH, 3, HEIGHT, WIDTH) * 50.0
    target = torch.randint(0, NUM_CLASSES, (BATCH, HEIGHT, WIDTH))
    target[torch.rand(BATCH, HEIGHT, WIDTH) < 0.1] = 255
    out = {"input": x.clone(), "target": target.to(torch.float32)}
    for name, p in model.state_dict().items():
        out["param." + name] = p.clone()
    opt = sgd_groups(model)
    losses = []
    for step in range(2):
        opt.zero_grad()
        logits = model(x)
        loss = cross_entropy2d(logits, target) / BATCH
        loss.backward()
        if step == 0:
            out["logits"] = logits.detach().clone()
            for name, p in model.named_parameters():
                if p.grad is not None:
                    out["grad." + name] = p.grad.clone()
        losses.append(loss.item())
        opt.step()
    for name, p in model.state_dict().items():
        out["step2." + name] = p.clone()
    meta = {
        "arch": arch,
        "num_classes": str(NUM_CLASSES),
        "width_divisor": str(WIDTH_DIVISOR),
        "lr": repr(LR),
        "losses": json.dumps(losses),
        "torch": torch.__version__,
    }
    out = {k: v.contiguous().to(torch.float32) for k, v in out.items()}
    save_file(out, os.path.join(HERE, f"parity_{arch}.safetensors"), metadata=meta)
    print(arch, "losses", losses)


if __name__ == "__main__":
    torch.set_num_threads(1)
    make("fcn32s", FCN32s, 1)
    make("fcn16s", FCN16s, 2)
    make("fcn8s", FCN8s, 3)
    make("fcn8s-atonce", FCN8sAtOnce, 4)
