"""Flax NNX vs PyTorch on one spec (default ResNet-50), side by side, in one run.

Both models are the modules archspec emits (``archspec build --backend torch|flax``),
imported from a temporary directory, with the same weights (the torch model's, converted).
For each framework it measures:

- compile: flax, ``jax.jit(...).lower(...).compile()`` of the forward and of the train
  step; torch has nothing to compile in eager mode, so its first call (allocator and
  oneDNN warm-up) is shown there, and ``--torch-compile`` adds ``torch.compile``;
- forward: one eval-mode forward;
- train step: forward + backward + SGD update (momentum 0.9, weight decay 1e-4) in
  training mode, batch norm statistics included; for flax both the functional form
  (``nnx.split``/``nnx.merge`` under ``jax.jit``, archspec's default) and ``nnx.jit``.

Times are medians over ``--repeat`` calls after one warm-up call. OpenMP threads wait
passively unless OMP_WAIT_POLICY says otherwise: spinning torch threads on a machine
shared with other processes made a forward 70 times slower here (2.4 s instead of 0.03 s).
Run:

    .venv/bin/python benchmarks/bench_flax.py                      # resnet50, batch 8, 224
    .venv/bin/python benchmarks/bench_flax.py --size 128 --batch 16 --json out.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def import_file(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(seconds of the first call, median seconds of the next ``repeat`` calls)."""
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


def emitted(arch: Any, backend: str, directory: Path) -> Any:
    path = directory / f"bench_{arch.name}_{backend}.py"
    path.write_text(arch.source(backend))
    module = import_file(path)
    return getattr(module, module.__all__[0])


def bench_torch(cls: Any, images: Any, labels: Any, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.manual_seed(0)
    model = cls()
    state_dict = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    result: dict[str, Any] = {"state_dict": state_dict}
    forward_model = model
    if args.torch_compile:
        start = time.perf_counter()
        forward_model = torch.compile(model)
        forward_model.eval()
        with torch.no_grad():
            forward_model(x)
        result["torch.compile forward"] = time.perf_counter() - start

    def forward() -> None:
        with torch.no_grad():
            forward_model.eval()(x)

    result["forward first"], result["forward"] = timed(forward, args.repeat)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)

    def step() -> None:
        model.train()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        sgd.zero_grad()
        loss.backward()
        sgd.step()

    result["step first"], result["step"] = timed(step, args.repeat)
    return result


def bench_flax(
    cls: Any, network: Any, weights: Any, images: Any, labels: Any, args: argparse.Namespace
) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from archspec.backends.nnx import builder, train

    result: dict[str, Any] = {}
    start = time.perf_counter()
    model = nnx.eval_shape(lambda: cls(rngs=nnx.Rngs(0)))
    builder.load_weights(model, network, weights, construct=lambda: cls(rngs=nnx.Rngs(0)))
    result["build (eval_shape + weights)"] = time.perf_counter() - start
    x, y = jnp.asarray(images.transpose(0, 2, 3, 1)), jnp.asarray(labels)

    model.eval()
    graphdef, state = nnx.split(model)
    start = time.perf_counter()
    forward = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x)).lower(state, x).compile()
    result["compile forward"] = time.perf_counter() - start
    result["forward first"], result["forward"] = timed(
        lambda: forward(state, x).block_until_ready(), args.repeat
    )

    model.train()
    optimizer = train.optimizer(model)
    graphdef, state = nnx.split((model, optimizer))
    backup = jax.tree.map(jnp.copy, state)

    def pure(state: Any, x: Any, y: Any) -> Any:
        model, optimizer = nnx.merge(graphdef, state)
        loss = train.train_step(model, optimizer, x, y)
        return nnx.state((model, optimizer)), loss

    start = time.perf_counter()
    step = jax.jit(pure, donate_argnums=0).lower(state, x, y).compile()
    result["compile step"] = time.perf_counter() - start
    box = [state]

    def functional() -> None:
        box[0], loss = step(box[0], x, y)
        loss.block_until_ready()

    result["step first"], result["step"] = timed(functional, args.repeat)

    nnx.update((model, optimizer), backup)
    graph_step = nnx.jit(train.train_step)
    start = time.perf_counter()
    graph_step(model, optimizer, x, y).block_until_ready()
    result["nnx.jit step first (compile + run)"] = time.perf_counter() - start
    _, result["nnx.jit step"] = timed(
        lambda: graph_step(model, optimizer, x, y).block_until_ready(), args.repeat
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", default="specs/torchvision/resnet50.yaml")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--torch-compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts OpenMP

    import jax
    import numpy as np
    import torch

    import archspec

    if args.threads:
        torch.set_num_threads(args.threads)
    arch = archspec.load(ROOT / args.spec, input=f"3x{args.size}x{args.size}")
    rng = np.random.default_rng(0)
    images = rng.standard_normal((args.batch, 3, args.size, args.size), dtype=np.float32)
    labels = rng.integers(0, arch.network.output[0], args.batch)
    with tempfile.TemporaryDirectory() as directory:
        torch_cls = emitted(arch, "torch", Path(directory))
        flax_cls = emitted(arch, "flax", Path(directory))
        torch_result = bench_torch(torch_cls, images, labels, args)
        weights = torch_result.pop("state_dict")
        flax_result = bench_flax(flax_cls, arch.network, weights, images, labels, args)

    setup = {
        "spec": args.spec,
        "input": f"{args.batch}x3x{args.size}x{args.size}",
        "torch": f"{torch.__version__}, {torch.get_num_threads()} threads",
        "OMP_WAIT_POLICY": os.environ["OMP_WAIT_POLICY"],
        "jax": f"{jax.__version__} on {jax.devices()[0].platform}",
        "repeat": args.repeat,
    }
    print(" ".join(f"{k}: {v};" for k, v in setup.items()))
    rows = [
        ("compile forward", "forward first", "compile forward"),
        ("forward (eval)", "forward", "forward"),
        ("compile train step", "step first", "compile step"),
        ("train step (fwd+bwd+SGD)", "step", "step"),
        ("train step, nnx.jit", None, "nnx.jit step"),
        ("first nnx.jit step (compile + run)", None, "nnx.jit step first (compile + run)"),
        ("build flax (eval_shape + weights)", None, "build (eval_shape + weights)"),
    ]
    if "torch.compile forward" in torch_result:
        rows.insert(1, ("torch.compile forward", "torch.compile forward", None))
    print(f"{'':38} {'torch (ms)':>12} {'flax (ms)':>12}")
    for label, torch_key, flax_key in rows:
        left = f"{1e3 * torch_result[torch_key]:12.1f}" if torch_key else f"{'':>12}"
        right = f"{1e3 * flax_result[flax_key]:12.1f}" if flax_key else f"{'':>12}"
        print(f"{label:38} {left} {right}")
    print("(torch's 'compile' rows are its first eager call: eager mode compiles nothing)")
    if args.json:
        args.json.write_text(
            json.dumps({"setup": setup, "torch": torch_result, "flax": flax_result}, indent=2)
        )


if __name__ == "__main__":
    main()
