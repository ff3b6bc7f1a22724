"""Read image classification datasets from local files into uint8 arrays (numpy only).

Nothing is downloaded: CIFAR-10 comes from its python-format folder, Fashion-MNIST from
Debian's ``dataset-fashion-mnist`` package, anything else from a folder of class
subfolders. Data files are untrusted like specs: CIFAR's pickles are read by an unpickler
that builds nothing but numpy arrays, dicts, lists and strings; sizes are checked before
anything is allocated. A missing dataset is a TrainError naming the package or layout.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archspec.train.config import TrainError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_LAYOUT = (
    f"a folder '{CIFAR_FOLDER}' (or its parent) holding data_batch_1 .. data_batch_5, "
    "test_batch and batches.meta, as unpacked from cifar-10-python.tar.gz"
)
FOLDER_LAYOUT = "DIR/train/<class>/<image> and DIR/test/<class>/<image> (or DIR/val/...)"
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
MAX_FILE_BYTES = 1 << 30
MAX_DATASET_BYTES = 4 << 30
"""decoded pixels held in memory; larger image folders need a streaming loader"""


@dataclass(frozen=True)
class Dataset:
    """Images as N x C x H x W uint8 and labels as int64 in [0, len(classes))."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        c, h, w = self.train_images.shape[1:]
        return int(c), int(h), int(w)


def load_dataset(name: str, data: str | None, target: tuple[int, int, int]) -> Dataset:
    """The named dataset; ``target`` (C, H, W) sizes image folders, whose images vary."""
    if name == "cifar10":
        return load_cifar10(Path(data) if data else Path(CIFAR_FOLDER))
    if name == "fashion-mnist":
        return load_fashion_mnist(Path(data) if data else FASHION_MNIST_DIR)
    if data is None:
        raise TrainError("--dataset folder needs --data DIR", help=f"layout: {FOLDER_LAYOUT}")
    return load_folder(Path(data), target)


def _read(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise TrainError(f"{path}: {size:,} bytes, more than a dataset file may have")
    return path.read_bytes()


# --- Fashion-MNIST (IDX files, gzip-compressed as Debian ships them) ---------------------


def load_fashion_mnist(folder: Path) -> Dataset:
    def part(stem: str) -> bytes:
        for path in (folder / f"{stem}.gz", folder / stem):
            if path.is_file():
                raw = _read(path)
                return _gunzip(path, raw) if path.suffix == ".gz" else raw
        raise TrainError(
            f"Fashion-MNIST not found: no {stem}(.gz) in {folder}",
            help="install Debian's package: sudo apt-get install dataset-fashion-mnist "
            f"(it fills {FASHION_MNIST_DIR}), or pass --data DIR with the four IDX files",
        )

    train = _idx_images(part("train-images-idx3-ubyte"), folder)
    test = _idx_images(part("t10k-images-idx3-ubyte"), folder)
    train_labels = _idx_labels(part("train-labels-idx1-ubyte"), len(train), folder)
    test_labels = _idx_labels(part("t10k-labels-idx1-ubyte"), len(test), folder)
    return Dataset("fashion-mnist", train, train_labels, test, test_labels, FASHION_MNIST_CLASSES)


def _gunzip(path: Path, raw: bytes) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except (OSError, EOFError) as error:
        raise TrainError(f"{path}: not a readable gzip file ({error})") from None
    if len(data) > MAX_FILE_BYTES:
        raise TrainError(f"{path}: decompresses to more than {MAX_FILE_BYTES:,} bytes")
    return data


def _idx_images(raw: bytes, folder: Path) -> np.ndarray:
    if len(raw) < 16 or struct.unpack(">I", raw[:4])[0] != 0x803:
        raise TrainError(f"{folder}: an images file is not an IDX3 uint8 file")
    count, rows, cols = struct.unpack(">III", raw[4:16])
    if len(raw) != 16 + count * rows * cols:
        raise TrainError(f"{folder}: an images file's size does not match its header")
    return np.frombuffer(raw, np.uint8, offset=16).reshape(count, 1, rows, cols)


def _idx_labels(raw: bytes, count: int, folder: Path) -> np.ndarray:
    if len(raw) != 8 + count or struct.unpack(">II", raw[:8]) != (0x801, count):
        raise TrainError(f"{folder}: a labels file does not match its images file")
    labels = np.frombuffer(raw, np.uint8, offset=8).astype(np.int64)
    if labels.max(initial=0) >= len(FASHION_MNIST_CLASSES):
        raise TrainError(f"{folder}: labels outside 0..9")
    return labels


# --- CIFAR-10 (python format: pickled dicts) ----------------------------------------------


class _ArraysOnly(pickle.Unpickler):
    """Rebuilds numpy arrays and builtin containers; refuses every other global."""

    ALLOWED = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("_codecs", "encode"):
            return _latin1  # how protocol 2 stores bytes written by Python 3
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}")
        return super().find_class(module, name)


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` restricted to the one codec pickle uses (no zlib bombs)."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refused to decode with {encoding}")
    return text.encode("latin1")


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        loaded = _ArraysOnly(io.BytesIO(_read(path)), encoding="latin1").load()
    except Exception as error:  # a corrupt pickle can raise almost anything
        raise TrainError(f"{path}: not a CIFAR-10 python batch ({error})") from None
    if not isinstance(loaded, dict):
        raise TrainError(f"{path}: not a CIFAR-10 python batch (a {type(loaded).__name__})")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in loaded.items()}


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise TrainError(f"{path}: 'data' is not a uint8 N x 3072 array")
    if data.shape[1] != 3 * 32 * 32 or not isinstance(labels, list | np.ndarray):
        raise TrainError(f"{path}: expected 'data' N x 3072 and a list of 'labels'")
    targets = np.asarray(labels, dtype=np.int64)
    if targets.shape != (len(data),) or targets.min(initial=0) < 0 or targets.max(initial=0) > 9:
        raise TrainError(f"{path}: 'labels' must be N integers in 0..9")
    return data.reshape(-1, 3, 32, 32), targets


def load_cifar10(folder: Path) -> Dataset:
    if (folder / CIFAR_FOLDER).is_dir():
        folder = folder / CIFAR_FOLDER
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise TrainError(
            f"CIFAR-10 not found in {folder} (missing {', '.join(missing)})",
            help=f"pass --data DIR: {CIFAR_LAYOUT}; archspec downloads nothing",
        )
    parts = [_cifar_batch(folder / n) for n in names]
    classes = tuple(str(i) for i in range(10))
    if (folder / "batches.meta").is_file():
        names_found = _unpickle(folder / "batches.meta").get("label_names")
        if isinstance(names_found, list) and len(names_found) == 10:
            classes = tuple(str(n.decode() if isinstance(n, bytes) else n) for n in names_found)
    train_images = np.concatenate([images for images, _ in parts[:5]])
    train_labels = np.concatenate([labels for _, labels in parts[:5]])
    return Dataset("cifar10", train_images, train_labels, *parts[5], classes)


# --- a folder of class subfolders ----------------------------------------------------------


def load_folder(root: Path, target: tuple[int, int, int]) -> Dataset:
    """Every image resized to the target's H x W as it loads (they need not share a size)."""
    train_dir = root / "train"
    test_dir = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
    if not train_dir.is_dir() or test_dir is None:
        raise TrainError(f"no image folder dataset in {root}", help=f"layout: {FOLDER_LAYOUT}")
    classes = tuple(sorted(p.name for p in train_dir.iterdir() if p.is_dir()))
    if not classes:
        raise TrainError(f"{train_dir} has no class subfolders", help=f"layout: {FOLDER_LAYOUT}")
    strays = sorted(p.name for p in test_dir.iterdir() if p.is_dir() and p.name not in classes)
    if strays:
        raise TrainError(f"{test_dir} has classes that {train_dir} lacks: {', '.join(strays)}")
    train = _folder_split(train_dir, classes, target)
    test = _folder_split(test_dir, classes, target)
    return Dataset(root.name or "folder", *train, *test, classes)


def _folder_split(
    folder: Path, classes: tuple[str, ...], target: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    files = [
        (path, label)
        for label, name in enumerate(classes)
        if (folder / name).is_dir()
        for path in sorted((folder / name).iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
    ]
    if not files:
        raise TrainError(f"no images in {folder}", help=f"layout: {FOLDER_LAYOUT}")
    channels, height, width = target
    if channels not in (1, 3):
        raise TrainError(f"image folders load as 1 or 3 channels, the spec wants {channels}")
    if len(files) * channels * height * width > MAX_DATASET_BYTES:
        raise TrainError(
            f"{folder}: {len(files):,} images at {channels}x{height}x{width} exceed "
            f"{MAX_DATASET_BYTES >> 30} GiB in memory",
            help="use a smaller --input or fewer images",
        )
    images = np.empty((len(files), channels, height, width), np.uint8)
    for i, (path, _) in enumerate(files):
        images[i] = _decode(path, channels, height, width)
    return images, np.array([label for _, label in files], dtype=np.int64)


def _decode(path: Path, channels: int, height: int, width: int) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            picture = image.convert("L" if channels == 1 else "RGB")
            if picture.size != (width, height):
                picture = picture.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(picture, dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise TrainError(f"{path}: cannot read the image ({error})") from None
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
