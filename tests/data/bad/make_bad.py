#!/usr/bin/env python3
"""Label files that `fcn eval` must refuse with an error naming them. Run: python make_bad.py"""
import os
import zlib
import struct

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
grid = (np.arange(48).reshape(6, 8) % 3).astype(np.uint8)

Image.fromarray(np.stack([grid] * 3, -1), mode="RGB").save(os.path.join(HERE, "rgb.png"))
Image.fromarray(np.stack([grid, grid], -1), mode="LA").save(os.path.join(HERE, "gray_alpha.png"))
Image.fromarray(grid, mode="L").save(os.path.join(HERE, "whole.tmp"), format="PNG")
with open(os.path.join(HERE, "whole.tmp"), "rb") as f:
    data = f.read()
os.remove(os.path.join(HERE, "whole.tmp"))
with open(os.path.join(HERE, "truncated.png"), "wb") as f:
    f.write(data[: len(data) - 30])
with open(os.path.join(HERE, "not_a_png.png"), "wb") as f:
    f.write(b"this is a text file with a .png name\n")


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


# A header claiming 100000 x 100000 pixels: must hit the size limit, not allocate 10 GB.
header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
with open(os.path.join(HERE, "huge_header.png"), "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))
