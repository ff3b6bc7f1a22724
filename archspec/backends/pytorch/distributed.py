"""Data parallelism for the torch trainer: the process group, and batch norm over it.

``torchrun --nproc-per-node N -m archspec train ...`` sets WORLD_SIZE, RANK and
LOCAL_RANK; each process then trains a DistributedDataParallel replica on its slice of
every global batch (gloo on the CPU, NCCL on GPUs). Batch norm normalises with the
statistics of the whole global batch by default, so N processes compute what one
process does at the same global batch: torch's SyncBatchNorm on GPUs, and on the CPU
(where SyncBatchNorm refuses to run) ``GlobalBatchNorm2d``, the same computation with
autograd-aware all-reduces.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Processes:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def start(cls, device: str) -> Processes:
        """Join torchrun's process group, if launched by it with more than one process."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device == "cuda" else "gloo")
        return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` summed over the processes (in place), or as is for one process."""
        if self.world > 1:
            dist.all_reduce(values)
        return values

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch (any device).

    Two reductions per layer (the mean, then the centred squares) keep the variance as
    accurate as one process's; the running variance is the unbiased one, as torch's.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(input)
        dims = (0, 2, 3)
        count = torch.full((1,), input.numel() // input.shape[1], dtype=input.dtype)
        sums = _sum_everywhere(torch.cat([input.sum(dims), count.to(input.device)]))
        total = sums[-1]
        mean = sums[:-1] / total
        centred = input - mean[None, :, None, None]
        variance = _sum_everywhere((centred * centred).sum(dims)) / total
        if self.track_running_stats and self.running_mean is not None:
            assert self.running_var is not None and self.num_batches_tracked is not None
            with torch.no_grad():
                self.num_batches_tracked += 1
                tracked = float(self.num_batches_tracked)
                factor = self.momentum if self.momentum is not None else 1.0 / tracked
                self.running_mean.lerp_(mean.detach(), factor)
                unbiased = variance.detach() * total / (total - 1)
                self.running_var.lerp_(unbiased, factor)
        output = centred * torch.rsqrt(variance + self.eps)[None, :, None, None]
        if self.affine:
            output = output * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return output


class _SumOverProcesses(torch.autograd.Function):
    """y = sum over processes of x; then dL/dx = sum over processes of dL/dy."""

    @staticmethod
    def forward(ctx: Any, values: torch.Tensor) -> torch.Tensor:
        total = values.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, gradient: torch.Tensor) -> torch.Tensor:
        total = gradient.clone()
        dist.all_reduce(total)
        return total


def _sum_everywhere(values: torch.Tensor) -> torch.Tensor:
    total: torch.Tensor = _SumOverProcesses.apply(values)
    return total


def global_batch_norm(model: nn.Module, device: str) -> nn.Module:
    """Every BatchNorm2d of ``model`` normalising over all processes (same state_dict keys)."""
    if device == "cuda":
        synced: nn.Module = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # type: ignore[no-untyped-call]
        return synced
    for name, child in model.named_children():
        if type(child) is nn.BatchNorm2d:
            replacement = GlobalBatchNorm2d(
                child.num_features,
                child.eps,
                child.momentum,
                child.affine,
                child.track_running_stats,
            )
            replacement.load_state_dict(child.state_dict())
            like = child.running_mean if child.running_mean is not None else child.weight
            replacement.to(device=like.device, dtype=like.dtype)
            setattr(model, name, replacement)
        else:
            global_batch_norm(child, device)
    return model
