"""Benchmarks for the PyTorch backend; prints its figures.

1. Speed: forward + backward of the emitted ResNet-50 (specs/torchvision/resnet50.yaml)
   against torchvision's resnet50 holding the same weights, batch 8, 224x224, measured
   alternately in one run (ABBA order, so drift hits both), printed as a ratio
   (target: at most 1.02).
2. Spec to ready module: compile the spec, emit the source, write and import it,
   instantiate (construct + initialise), for ResNet-50 and the CIFAR ResNet-1202; and
   ``to_torch()`` for comparison.

    .venv/bin/python benchmarks/bench_torch.py [--rounds 10] [--batch 8] [--device cpu]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def import_source(text: str, directory: Path, name: str) -> Any:
    path = directory / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def step_time(model: Any, x: Any, device: str) -> float:
    """Seconds for one forward + backward (gradients cleared outside the timing)."""
    import torch

    model.zero_grad(set_to_none=True)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    model(x).sum().backward()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench_speed(rounds: int, batch: int, device: str, directory: Path) -> None:
    import torch
    import torchvision

    import archspec

    arch = archspec.load(ROOT / "specs/torchvision/resnet50.yaml")
    module = import_source(arch.source("torch"), directory, "bench_resnet50_torch")
    emitted = getattr(module, module.__all__[0])()
    reference = torchvision.models.resnet50(weights=None)
    emitted.load_state_dict(reference.state_dict(), strict=True)
    models = {"archspec": emitted.to(device).train(), "torchvision": reference.to(device).train()}
    x = torch.randn(batch, 3, 224, 224, device=device)
    for model in models.values():  # warm up allocator and kernels
        for _ in range(2):
            step_time(model, x, device)
    times: dict[str, list[float]] = {name: [] for name in models}
    for index in range(rounds):
        order = list(models) if index % 2 == 0 else list(reversed(models))
        for name in order:
            times[name].append(step_time(models[name], x, device))
    a, b = statistics.median(times["archspec"]), statistics.median(times["torchvision"])
    pairs = [x / y for x, y in zip(times["archspec"], times["torchvision"], strict=True)]
    print(
        f"ResNet-50 forward+backward, batch {batch}, 224x224, {device}, "
        f"{torch.get_num_threads()} threads, {rounds} alternating rounds"
    )
    for name, label in (("archspec", "archspec (emitted)"), ("torchvision", "torchvision")):
        median, best = statistics.median(times[name]), min(times[name])
        print(f"  {label:20s} median {median * 1000:8.1f} ms  (min {best * 1000:.1f} ms)")
    print(
        f"  ratio archspec / torchvision: {a / b:.3f} (medians), "
        f"{statistics.median(pairs):.3f} (median of per-round ratios); target <= 1.02"
    )


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def bench_ready(spec: str, directory: Path, tag: str) -> None:
    import archspec

    arch, t_load = timed(lambda: archspec.load(ROOT / spec))
    source, t_emit = timed(lambda: arch.source("torch"))
    module, t_import = timed(lambda: import_source(source, directory, f"ready_{tag}"))
    _, t_init = timed(lambda: getattr(module, module.__all__[0])())
    _, t_memory = timed(arch.to_torch)
    total = t_load + t_emit + t_import + t_init
    print(f"{spec} ({arch.counts.params:,} parameters, {source.count(chr(10))} lines)")
    print(
        f"  compile {t_load:.3f} s + emit {t_emit:.3f} s + write/import {t_import:.3f} s"
        f" + instantiate {t_init:.3f} s = {total:.3f} s to a ready module"
    )
    print(f"  to_torch() in memory: {t_memory:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    import torch  # noqa: F401  (timed apart: it dominates a cold start)

    print(f"import torch: {time.perf_counter() - start:.2f} s")
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        for round_ in ("cold", "warm"):
            print(f"-- spec to ready module ({round_}) --")
            for tag, spec in (
                ("r50", "specs/torchvision/resnet50.yaml"),
                ("r1202", "specs/cifar/resnet1202.yaml"),
            ):
                bench_ready(spec, directory, f"{tag}_{round_}")
        if not args.skip_speed:
            print("-- speed --")
            bench_speed(args.rounds, args.batch, args.device, directory)


if __name__ == "__main__":
    main()
