"""From a Dataset to batches: fit to the network's input, subtract the mean, augment.

Every batch is a pure function of (seed, step): the epoch's order is a permutation drawn
from (seed, epoch), the crop offsets and flips from (seed, step). So a resumed run sees
exactly the batches it would have seen, and N data-parallel processes take their slices
of the same global batch that one process would use (a DistributedSampler with a fixed
global batch). Augmentation is the paper's: zero padding of 4 pixels, a random crop back
to size, a horizontal flip with probability 1/2, after per-pixel mean subtraction.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from archspec.train.config import TrainError
from archspec.train.datasets import Dataset
from archspec.train.recipe import PAD

Shape = tuple[int, int, int]
GREY = np.array([0.299, 0.587, 0.114], np.float32)
"""ITU-R 601 luma weights: colour to one channel"""


@dataclass(frozen=True)
class Fit:
    """How images meet the network: the input it is built for, and what is done to them."""

    input: Shape
    mode: str
    """"none", "pad", "resize" (images changed) or "input" (the network's input changed)"""
    description: str


def choose_fit(mode: str, data: Shape, spec: Shape) -> Fit:
    """Decide, for ``--fit auto|pad|resize|input``; ``auto`` pads when the images fit."""
    if mode == "input" or data == spec:
        note = "the network is built for the data's input" if data != spec else "as they are"
        return Fit(data, "input" if data != spec else "none", note)
    (c, h, w), (sc, sh, sw) = data, spec
    if c != sc and (c, sc) not in ((1, 3), (3, 1)):
        raise TrainError(
            f"cannot fit {c}-channel images to a {sc}-channel input",
            help=f"--fit input builds the network for {c}x{h}x{w}",
        )
    if mode == "auto":
        mode = "pad" if h <= sh and w <= sw else "resize"
    if mode == "pad" and (h > sh or w > sw):
        raise TrainError(f"--fit pad: {h}x{w} images do not fit in {sh}x{sw}", help="--fit resize")
    size = (
        f"zero-padded to {sh}x{sw} ({(sh - h) // 2}-{sh - h - (sh - h) // 2} px)"
        if mode == "pad"
        else f"resized to {sh}x{sw} (bilinear)"
    )
    colour = {1: "; grey replicated to 3 channels", 3: "; converted to grey (luma)"}
    return Fit(spec, mode, size + (colour[c] if c != sc else ""))


def fit_images(images: np.ndarray, fit: Fit) -> np.ndarray:
    """Images resized or padded to the fit's H x W; grey stays one channel (see Prepared)."""
    _, c, h, w = images.shape
    _, height, width = fit.input
    if c == 3 and fit.input[0] == 1:
        images = np.rint((images * GREY[None, :, None, None]).sum(1, keepdims=True)).astype(
            np.uint8
        )
    if fit.mode == "pad":
        top, left = (height - h) // 2, (width - w) // 2
        pads = ((0, 0), (0, 0), (top, height - h - top), (left, width - w - left))
        return np.pad(images, pads)
    if fit.mode == "resize":
        from PIL import Image

        def resize(plane: np.ndarray) -> np.ndarray:
            picture = Image.fromarray(plane).resize((width, height), Image.Resampling.BILINEAR)
            return np.asarray(picture)

        return np.stack([np.stack([resize(p) for p in image]) for image in images])
    return images


@dataclass(frozen=True)
class Prepared:
    """Fitted uint8 images, padded for cropping, and the per-pixel mean (in [0, 1] units).

    Arrays keep the data's channels; a grey image meets a 3-channel network by repetition
    at the end of each batch, so the mean and the crops cost a third.
    """

    train: np.ndarray
    train_labels: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray
    mean: np.ndarray
    channels: int
    fit: Fit

    @property
    def size(self) -> tuple[int, int]:
        return self.fit.input[1], self.fit.input[2]


def prepare(dataset: Dataset, fit: Fit, mean: np.ndarray | None = None) -> Prepared:
    """Fit both splits; the mean comes from the training images unless given (eval)."""
    train = fit_images(dataset.train_images, fit)
    test = fit_images(dataset.test_images, fit)
    if mean is None:
        mean = train.mean(axis=0, dtype=np.float64).astype(np.float32) / 255.0
    padding = ((0, 0), (0, 0), (PAD, PAD), (PAD, PAD))
    return Prepared(
        np.pad(train, padding),
        dataset.train_labels,
        test,
        dataset.test_labels,
        mean,
        fit.input[0],
        fit,
    )


@dataclass(frozen=True)
class Sharding:
    """This process's slice of each global batch."""

    rank: int = 0
    world: int = 1

    def take(self, batch: np.ndarray) -> np.ndarray:
        share = len(batch) // self.world
        return batch[self.rank * share : (self.rank + 1) * share]


class TrainBatches:
    """``batch(step)``: this process's images (float32 N x C x H x W) and labels."""

    def __init__(
        self, data: Prepared, batch_size: int, seed: int, augment: bool, shard: Sharding
    ) -> None:
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.augment, self.shard = augment, shard
        self.per_epoch = len(data.train) // batch_size
        if self.per_epoch == 0:
            raise TrainError(
                f"--batch-size {batch_size} exceeds the {len(data.train)} training images"
            )
        self.padded_mean = np.pad(data.mean, ((0, 0), (PAD, PAD), (PAD, PAD)))
        self._order: tuple[int, np.ndarray] = (-1, np.empty(0, np.int64))

    def epoch(self, step: int) -> float:
        return step / self.per_epoch

    def order(self, epoch: int) -> np.ndarray:
        if self._order[0] != epoch:
            rng = np.random.default_rng((self.seed, 0, epoch))
            self._order = (epoch, rng.permutation(len(self.data.train)))
        return self._order[1]

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        epoch, position = divmod(step, self.per_epoch)
        start = position * self.batch_size
        chosen = self.shard.take(self.order(epoch)[start : start + self.batch_size])
        height, width = self.data.size
        if self.augment:
            rng = np.random.default_rng((self.seed, 1, step))
            offsets = self.shard.take(rng.integers(0, 2 * PAD + 1, (self.batch_size, 2)))
            flips = self.shard.take(rng.random(self.batch_size) < 0.5)
        else:
            offsets = np.full((len(chosen), 2), PAD)
            flips = np.zeros(len(chosen), bool)
        rows = offsets[:, :1] + np.arange(height)
        across = np.where(flips[:, None], np.arange(width)[::-1], np.arange(width))
        cols = offsets[:, 1:] + across
        channel = np.arange(self.data.train.shape[1])[None, :, None, None]
        r, c = rows[:, None, :, None], cols[:, None, None, :]
        pixels = self.data.train[chosen[:, None, None, None], channel, r, c]
        images = pixels.astype(np.float32) / 255.0 - self.padded_mean[channel[0], r, c]
        return _to_channels(images, self.data.channels), self.data.train_labels[chosen]

    def stream(self, start: int, stop: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Batches ``start`` .. ``stop - 1``, prepared one ahead on a background thread."""
        return prefetch(self.batch, range(start, stop))


def eval_batches(
    data: Prepared, batch_size: int, limit: int, shard: Sharding
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The first ``limit`` (0: all) test images in fixed-size batches, this process's share.

    The last batch is padded with label -1 (never counted), so every batch has one shape
    and compiled models see no new one.
    """
    count = min(limit, len(data.test)) if limit else len(data.test)
    starts = range(0, count, batch_size)
    for index in range(shard.rank, len(starts), shard.world):
        start = starts[index]
        stop = min(start + batch_size, count)
        images = data.test[start:stop].astype(np.float32) / 255.0 - data.mean
        labels = data.test_labels[start:stop]
        missing = batch_size - len(labels)
        if missing:
            images = np.concatenate([images, np.zeros((missing, *images.shape[1:]), np.float32)])
            labels = np.concatenate([labels, np.full(missing, -1, np.int64)])
        yield _to_channels(images, data.channels), labels


def _to_channels(images: np.ndarray, channels: int) -> np.ndarray:
    if images.shape[1] == channels:
        return np.ascontiguousarray(images)
    return np.repeat(images, channels, axis=1)


def prefetch(make: Callable[[int], Any], steps: range, depth: int = 2) -> Iterator[Any]:
    """``make(step)`` for each step, computed ahead on one daemon thread.

    numpy's copies run while the framework computes the previous step; an exception in
    the thread is raised in the consumer.
    """
    results: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        for step in steps:
            try:
                item = (True, make(step))
            except BaseException as error:  # handed over to the consumer
                item = (False, error)
            while not stop.is_set():
                try:
                    results.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set() or not item[0]:
                return

    worker = threading.Thread(target=produce, daemon=True, name="archspec-batches")
    worker.start()
    try:
        for _ in steps:
            ok, value = results.get()
            if not ok:
                raise value
            yield value
    finally:
        stop.set()
        worker.join(timeout=5)
