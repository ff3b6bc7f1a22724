"""The PyTorch trainer: the model from ``Architecture.to_torch()``, the paper's SGD, and the
options a GPU wants (AMP, channels_last, torch.compile, DDP under torchrun).

The step does what a hand-written loop does and nothing more: copy the batch in, forward
under autocast, backward, SGD; the loss and error counts are added to running totals on
the device, so no step waits for the device (``benchmarks/bench_train.py`` measures it).
A checkpoint is one ``.pt`` file: weights, optimizer, AMP scaler, random state, the
per-pixel mean and the run's position; it loads with ``weights_only=True``.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from archspec.api import Architecture
from archspec.backends.pytorch.distributed import Processes, global_batch_norm
from archspec.train.config import TrainConfig, TrainError
from archspec.train.position import Totals
from archspec.train.runfolder import write_atomic

FORMAT = "archspec-train/torch/1"


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by ``TorchTrainer.save`` (tensors and strings only, no code)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a file it cannot read
        raise TrainError(f"cannot read {path} as a torch checkpoint: {error}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise TrainError(
            f"{path} is not a checkpoint written by archspec train",
            help="checkpoints are the runs' checkpoints/step-NNNNNNN.pt files",
        )
    return payload


def mean_of(payload: dict[str, Any]) -> np.ndarray:
    mean: np.ndarray = payload["mean"].numpy()
    return mean


class TorchTrainer:
    suffix = ".pt"

    def __init__(self, arch: Architecture, config: TrainConfig, mean: np.ndarray) -> None:
        if config.device == "cuda" and not torch.cuda.is_available():
            raise TrainError("--device cuda: torch sees no CUDA device", help="use --device cpu")
        self.processes = Processes.start(config.device)
        self.rank, self.world = self.processes.rank, self.processes.world
        if config.device == "cuda":
            self.device = torch.device("cuda", self.processes.local_rank)
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
        self.config, self.mean = config, mean
        backend = "nccl" if config.device == "cuda" else "gloo"
        self.placement = (
            f"{self.world} processes ({backend})" if self.world > 1 else str(self.device)
        )
        torch.manual_seed(config.seed)
        model: nn.Module = arch.to_torch()
        if self.world > 1 and not config.local_bn:
            model = global_batch_norm(model, config.device)
        self.memory_format = (
            torch.channels_last if config.channels_last else torch.contiguous_format
        )
        self.model = model.to(self.device).to(memory_format=self.memory_format).train()
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
        replica: nn.Module = self.model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if config.device == "cuda" else None
            replica = DistributedDataParallel(self.model, device_ids=ids)
        self.forward = torch.compile(replica) if config.compile else replica
        self.amp_dtype = _amp_dtype(config)
        self.scaler = torch.amp.GradScaler(enabled=self.amp_dtype == torch.float16)
        self._sums = torch.zeros(2, dtype=torch.float64, device=self.device)
        self._images = 0.0

    def begin(self, totals: Totals) -> None:
        """Count on from a resumed run's totals (held by the first process)."""
        first = self.rank == 0
        base = [totals.loss, totals.errors] if first else [0.0, 0.0]
        self._sums = torch.tensor(base, dtype=torch.float64, device=self.device)
        self._images = totals.images if first else 0.0

    def _autocast(self) -> AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _inputs(self, images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, ...]:
        cuda = self.device.type == "cuda"
        x = torch.from_numpy(images)
        x = (x.pin_memory() if cuda else x).to(self.device, non_blocking=True)
        y = torch.from_numpy(labels).to(self.device, non_blocking=True)
        return x.contiguous(memory_format=self.memory_format), y

    def step(self, images: np.ndarray, labels: np.ndarray, lr: float) -> None:
        x, y = self._inputs(images, labels)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with self._autocast():
            logits = self.forward(x)
            loss = F.cross_entropy(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
        self.scaler.step(self.optimizer)
        self.scaler.update()
        with torch.no_grad():
            wrong = (logits.argmax(1) != y).sum()
            self._sums += torch.stack([loss.double() * len(y), wrong.double()])
        self._images += len(y)

    def totals(self, local: bool = False) -> Totals:
        """The run's training totals, over every process (this one's alone if ``local``)."""
        images = torch.tensor([self._images], dtype=torch.float64, device=self.device)
        sums = torch.cat([self._sums, images])
        if not local:
            self.processes.sum(sums)
        loss, errors, images = sums.tolist()
        return Totals(loss, errors, images)

    @torch.no_grad()
    def evaluate(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[int, int]:
        """(wrong, counted) over this process's share of the batches, summed over processes."""
        self.model.eval()
        counts = torch.zeros(2, dtype=torch.int64, device=self.device)
        for images, labels in batches:
            x, y = self._inputs(images, labels)
            with self._autocast():
                predicted = self.model(x).argmax(1)  # eager: a second compile costs more
            valid = y >= 0
            counts += torch.stack([((predicted != y) & valid).sum(), valid.sum()])
        self.model.train()
        wrong, counted = self.processes.sum(counts).tolist()
        return int(wrong), int(counted)

    def save(self, path: Path, meta: dict[str, str]) -> None:
        """Write the checkpoint (first process only; the others wait for it)."""
        if self.rank == 0:
            payload = {
                "format": FORMAT,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict(),
                "rng": torch.get_rng_state(),
                "mean": torch.from_numpy(self.mean),
                **meta,
            }
            if self.device.type == "cuda":
                payload["cuda_rng"] = torch.cuda.get_rng_state(self.device)
            buffer = io.BytesIO()
            torch.save(payload, buffer)
            write_atomic(path, buffer.getvalue())
        self.processes.barrier()

    def restore(self, path: Path) -> dict[str, str]:
        """Load a checkpoint: weights, optimizer, scaler, random state; returns its metadata."""
        payload = read_checkpoint(path)
        try:
            self.model.load_state_dict(payload["model"])
        except RuntimeError as error:
            raise TrainError(
                f"{path} does not fit this network: {str(error).splitlines()[0]}",
                help="use the spec and -D values the checkpoint was trained with",
            ) from None
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scaler.load_state_dict(payload["scaler"])
        torch.set_rng_state(payload["rng"])
        if "cuda_rng" in payload and self.device.type == "cuda":
            torch.cuda.set_rng_state(payload["cuda_rng"], self.device)
        return {k: v for k, v in payload.items() if isinstance(v, str)}

    def close(self) -> None:
        self.processes.close()


def _amp_dtype(config: TrainConfig) -> torch.dtype | None:
    """bfloat16 autocast where the device has it (CPUs, Ampere and later), else float16."""
    if not config.amp:
        return None
    if config.device == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16
