"""One DDP replica: train a spec for a few SGD steps on gloo (CPU), save its weights.

Launched twice by tests/test_torch_ddp.py through torchrun. Each rank starts from its
own random weights and sees its own data, so equal weights at the end mean that DDP
broadcast rank 0's initial weights and averaged every gradient.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

import archspec


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.set_num_threads(1)
    torch.manual_seed(rank)  # different initial weights on each rank, on purpose
    arch = archspec.load(args.spec)
    model = DistributedDataParallel(arch.to_torch())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    data = torch.Generator().manual_seed(1000 + rank)  # each rank its own batches
    losses = []
    model.train()
    for _ in range(args.steps):
        x = torch.randn(args.batch, *arch.network.input, generator=data)
        y = torch.randint(0, arch.network.output[0], (args.batch,), generator=data)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    state = {k: v.detach().clone() for k, v in model.module.state_dict().items()}
    torch.save(
        {"state": state, "losses": losses, "world": dist.get_world_size()},
        args.out / f"rank{rank}.pt",
    )
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
