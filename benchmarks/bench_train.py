"""Images/s of `archspec train`'s step loop against a hand-written torch loop, side by side.

Both train the same network (``Architecture.to_torch()``, same initial weights) on the
same data (Fashion-MNIST from Debian, zero-padded to the spec's 3x32x32, per-pixel mean
subtracted, the paper's pad-4 crop and flip) with the same settings (SGD momentum 0.9,
weight decay 1e-4, batch 128, and --amp / --channels-last / --compile when given).
Rounds alternate: archspec continues one run with ``--resume`` for 2 x ``--steps`` steps
(its metrics row for the second half gives the images/s of its loop, without setup,
evaluation, checkpoints, and the first steps after a resume, which warm up: ~1.5% of a
20-step round here), then the hand-written loop, kept warm, runs ``--steps`` steps.
Round 0 warms up (compile, allocator) and is not counted. Prints the median images/s of
each and their ratio (target: at least 0.98).

    .venv/bin/python benchmarks/bench_train.py [--rounds 6] [--steps 20] [--spec ...]
    .venv/bin/python benchmarks/bench_train.py --device cuda --amp --channels-last --compile
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see README: spinning threads on a shared CPU

ROOT = Path(__file__).resolve().parent.parent


def hand_written_loop(arguments: argparse.Namespace, steps: int) -> Any:
    """What one writes by hand: tensors in memory, crop and flip by indexing, SGD."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    import archspec
    from archspec.train.datasets import load_dataset

    device = torch.device(arguments.device)
    arch = archspec.load(ROOT / arguments.spec)
    data = load_dataset("fashion-mnist", None, arch.network.input)
    images = torch.from_numpy(np.pad(data.train_images, ((0, 0), (0, 0), (2, 2), (2, 2))))
    images = images.float().div_(255)
    images -= images.mean(0)
    images = F.pad(images, (4, 4, 4, 4))
    labels = torch.from_numpy(data.train_labels)
    torch.manual_seed(0)
    model = arch.to_torch().to(device)
    memory = torch.channels_last if arguments.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    forward = torch.compile(model) if arguments.compile else model
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=arguments.amp)
    generator = torch.Generator().manual_seed(0)
    span = torch.arange(32)

    def run() -> float:
        """images/s over ``steps`` steps"""
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            index = torch.randint(0, len(labels), (arguments.batch,), generator=generator)
            dy, dx = torch.randint(0, 9, (2, arguments.batch, 1), generator=generator)
            flip = torch.rand(arguments.batch, 1, generator=generator) < 0.5
            cols = dx + torch.where(flip, span.flip(0), span)
            rows = dy + span
            x = images[
                index[:, None, None, None], 0, rows[:, None, :, None], cols[:, None, None, :]
            ]
            x = x.expand(-1, 3, -1, -1).to(device, non_blocking=True)
            x = x.contiguous(memory_format=memory)
            y = labels[index].to(device, non_blocking=True)
            with amp:
                loss = F.cross_entropy(forward(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return steps * arguments.batch / (time.perf_counter() - start)

    return run


def archspec_loop(arguments: argparse.Namespace, folder: Path, steps: int) -> Any:
    """Rounds of ``archspec train``: each continues the run (--resume) for ``steps`` more."""
    from rich.console import Console

    from archspec.train.config import TrainConfig
    from archspec.train.loop import train
    from archspec.train.runfolder import RunFolder

    config = TrainConfig(
        spec=str(ROOT / arguments.spec),
        defines={},
        dataset="fashion-mnist",
        steps=2 * steps * (arguments.rounds + 1),
        eval_every=steps,
        eval_images=arguments.batch,
        device=arguments.device,
        amp=arguments.amp,
        channels_last=arguments.channels_last,
        compile=arguments.compile,
    )
    run_folder = RunFolder(folder)
    quiet = Console(quiet=True)
    done = 0

    def run() -> float:
        """images/s of the second half: the first steps after a resume warm up"""
        nonlocal done
        done += 2 * steps
        train(config, run_folder, quiet, resume=done > 2 * steps, until=done)
        return run_folder.rows()[-1].images_per_s

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", default="specs/cifar/resnet20.yaml")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    arguments = parser.parse_args()
    if arguments.batch != 128:
        parser.error("archspec's recipe trains at batch 128; keep --batch 128")
    import torch

    with tempfile.TemporaryDirectory() as directory:
        loops = {
            "archspec train": archspec_loop(arguments, Path(directory) / "run", arguments.steps),
            "hand-written": hand_written_loop(arguments, arguments.steps),
        }
        speeds: dict[str, list[float]] = {name: [] for name in loops}
        for index in range(arguments.rounds + 1):
            order = list(loops) if index % 2 == 0 else list(reversed(loops))
            for name in order:
                speed = loops[name]()
                if index:  # round 0 warms up
                    speeds[name].append(speed)
    ours, theirs = (statistics.median(speeds[name]) for name in loops)
    flags = [f for f in ("amp", "channels_last", "compile") if getattr(arguments, f)]
    print(
        f"{arguments.spec}, batch {arguments.batch}, {arguments.device} "
        f"({torch.get_num_threads()} threads), {' '.join(flags) or 'float32'}, "
        f"{arguments.rounds} rounds of {arguments.steps} steps"
    )
    for name, values in speeds.items():
        print(
            f"  {name:15} {statistics.median(values):8.1f} images/s  {[round(v) for v in values]}"
        )
    pairs = [a / b for a, b in zip(*speeds.values(), strict=True)]
    print(f"  ratio archspec / hand-written: {ours / theirs:.3f} (median of rounds: "
          f"{statistics.median(pairs):.3f}; target >= 0.98)")  # fmt: skip


if __name__ == "__main__":
    main()
