"""Analytic counting against tracing, measured side by side in one run.

    python benchmarks/bench_counts.py

1. ResNet-152 (torchvision layout) counted by archspec vs fvcore's FlopCountAnalysis on
   torchvision's resnet152 (the model built beforehand, not timed): both give the same
   conv+linear mult-adds. archspec's time is printed four ways: counting a network already
   compiled (the cost pass alone, its memo of node totals cleared: like for like with
   fvcore, which analyses a model already built), the same spec loaded again (the cache
   of compiled specs: its files are read again and compared), a sweep (compiled with a
   new num_classes each time: syntax trees and built blocks reused), and cold (every
   cache cleared before each load: read, parse, lower, count).
2. CIFAR depth 110 vs 1202 vs 12002, every cache but the parse trees cleared: compile
   time should grow linearly with depth.
Each figure is the median of several runs; the warm-up run (imports, the grammar
table, the standard library) is reported apart.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable

import archspec
from archspec.analysis.cost import KNOWN, count
from archspec.compiler import COMPILED, TREES
from archspec.frontend.dsl import parse_tree


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


RESNET152 = "specs/torchvision/resnet152.yaml"


def clear_caches() -> None:
    """Every cache but the parse trees of DSL text: compiled specs, syntax trees with
    their built blocks, node totals."""
    COMPILED.clear()
    TREES.clear()
    KNOWN.clear()


def compiled_counts(spec: str, **parameters: object) -> object:
    """Counts of a spec compiled anew (its parse trees cached; nothing else)."""
    clear_caches()
    return archspec.load(spec, **parameters).counts


def main() -> None:
    start = time.perf_counter()
    archspec.load("specs/cifar/resnet20.yaml")
    print(f"first load (grammar + stdlib, once per process): {time.perf_counter() - start:.3f} s")

    import torch
    import torchvision
    from fvcore.nn import FlopCountAnalysis

    model = torchvision.models.resnet152().eval()
    image = torch.randn(1, 3, 224, 224)

    def fvcore_count() -> int:
        analysis = FlopCountAnalysis(model, image)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        ops = analysis.by_operator()
        return int(ops["conv"] + ops["linear"])

    compiled = archspec.load(RESNET152).network

    def archspec_count() -> int:
        return archspec.load(RESNET152).counts.macs

    def archspec_counting() -> int:
        KNOWN.clear()
        return count(compiled).macs

    classes = itertools.count(1)

    def archspec_sweep() -> int:
        return archspec.load(RESNET152, num_classes=next(classes)).counts.params

    def archspec_cold() -> int:
        parse_tree.cache_clear()
        clear_caches()
        return archspec_count()

    assert fvcore_count() == archspec_count(), "the two counts disagree"
    print(f"resnet152: both count {archspec_count():,} conv + linear mult-adds")
    theirs = median_seconds(fvcore_count, 5)
    actions = (
        ("counting", archspec_counting),
        ("again", archspec_count),
        ("sweep", archspec_sweep),
        ("cold", archspec_cold),
    )
    for label, action in actions:
        ours = median_seconds(action, 21)
        print(
            f"  archspec {label:9s} {ours * 1e3:7.2f} ms   fvcore {theirs * 1e3:7.1f} ms   "
            f"archspec is {theirs / ours:5.0f}x faster"
        )

    for depth, n in ((110, 18), (1202, 200), (12002, 2000)):
        seconds = median_seconds(lambda n=n: compiled_counts("cifar/cifar", n=n), 3)
        print(
            f"cifar depth {depth:6d}: {seconds * 1e3:8.1f} ms   "
            f"{seconds / depth * 1e6:6.1f} us per layer"
        )


if __name__ == "__main__":
    main()
