"""Tiny datasets in the real on-disk formats, for the training tests.

The images are learnable in a few steps: each class has its own brightness (class * 25)
plus noise, so a net that lowers the loss on them is learning, not memorising.
"""

from __future__ import annotations

import csv
import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

CLASSES = [b"airplane", b"automobile", b"bird", b"cat", b"deer"] + [
    b"dog", b"frog", b"horse", b"ship", b"truck"
]  # fmt: skip


TINY_SPEC = """\
# A small residual net (5,106 parameters): compilers (XLA, inductor) take seconds, not minutes.
name: tiny
input: 3x32x32
shortcut: A
stem: conv1=conv(8, 3) bn1=bn relu=relu
stages:
  layer1: basic(8) x 1
  layer2: basic(16) x 1 /2
head: avgpool=global_avgpool flatten=flatten fc=fc(10)
"""


def images(count: int, seed: int, pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 rows of ``pixels`` values and their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count)
    noise = rng.integers(0, 40, (count, pixels))
    return np.clip(labels[:, None] * 25 + noise, 0, 255).astype(np.uint8), labels


def write_cifar(root: Path, per_batch: int = 40, test: int = 50) -> Path:
    """``root/cifar-10-batches-py`` as unpacked from cifar-10-python.tar.gz (pickle protocol 2),
    and ``root/tiny.yaml``, a spec small enough to compile quickly."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for index, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        data, labels = images(test if name == "test_batch" else per_batch, index, 3072)
        batch = {b"batch_label": name.encode(), b"labels": labels.tolist(), b"data": data}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": CLASSES}, protocol=2))
    (root / "tiny.yaml").write_text(TINY_SPEC)
    return root


def write_fashion_mnist(root: Path, train: int = 64, test: int = 32) -> Path:
    """The four gzip-compressed IDX files of Fashion-MNIST (as Debian installs them)."""
    root.mkdir(parents=True, exist_ok=True)
    for prefix, count, seed in (("train", train, 1), ("t10k", test, 2)):
        data, labels = images(count, seed, 28 * 28)
        header = struct.pack(">IIII", 0x803, count, 28, 28)
        (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(header + data.tobytes())
        )
        label_bytes = struct.pack(">II", 0x801, count) + labels.astype(np.uint8).tobytes()
        (root / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(label_bytes))
    return root


def metrics(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


def computed(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Rows without their timings (images_per_s, seconds): what a run computes."""
    return [{k: v for k, v in row.items() if k not in ("images_per_s", "seconds")} for row in rows]
