"""Depths whose copies read their index, or which arguments read, as keywords: a loop.

ConvNeXt's stochastic depth rises block by block over the whole network, so every copy
differs and every stage depth is read by every block; torchvision's ``ConvNeXt`` takes
the depths all the same. The rule (``archspec.codegen.indexed``) writes such a run as a
loop over the copy's index and takes no guess: a decision on ``i`` or on the count, a
run that shares its group or stands alone, and the depth is no keyword. Cost, alone on
one core: 6 s, mostly ConvNeXt-Tiny built at small sizes in torch and Flax (4 s).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_depth_knobs import emitted_class

import archspec

CONVNEXT = "torchvision/convnext_tiny"
DENSENET = "torchvision/densenet121"
HEAD = "head: pool=global_avgpool flatten=flatten fc=fc(10)\n"
SMALL = {"width": 16, "d1": 2, "d2": 1, "d3": 4, "d4": 2, "sd": 0.3, "num_classes": 7}
"""ConvNeXt-Tiny's keywords at sizes a test builds quickly (a lone copy in stage 2)."""
SMALL_DENSE = {"growth": 8, "init": 16, "b1": 2, "b2": 3, "b3": 1, "b4": 2, "bn_size": 2}
"""DenseNet-121's keywords at sizes a test builds quickly."""


def spec(stem: str, params: str = "n: 3, q: 0.2") -> str:
    return f"name: t\ninput: 3x8x8\nparams: {{{params}}}\nstem: conv(8, 3) {stem}\n{HEAD}"


def looped(text: str) -> dict[str, list[tuple[str, bool]]]:
    """Each depth keyword the rule found: its runs' groups, each with whether its first
    copy is written in the loop too."""
    found = archspec.loads(text).knobs()
    return {k.name: [(run.path, run.first_alike) for run in k.looped] for k in found if k.groups}


# ---- the rule


def test_convnext_takes_its_stage_depths() -> None:
    knobs = {k.name: k for k in archspec.load(CONVNEXT).knobs()}
    assert list(knobs) == ["width", "d1", "d2", "d3", "d4", "sd", "num_classes", "in_channels"]
    stages = [
        (run.path, run.first_alike) for d in ("d1", "d2", "d3", "d4") for run in knobs[d].looped
    ]
    assert stages == [(f"features.{k}", True) for k in (1, 3, 5, 7)]


def test_copies_that_read_their_index_and_count_are_a_loop() -> None:
    assert looped(spec("g=dropout(q * i / n) x n")) == {"n": [("g", True)]}
    assert looped(spec('g=dropout(q * i / n) x n as "d{n}"')) == {"n": [("g", True)]}
    # a function of the index is computed, not decided on: the loop calls it
    assert looped(spec("g=dropout(min(q * i, 0.3)) x n")) == {"n": [("g", True)]}
    assert "nn.Dropout(p=min(q * i, 0.3)) for i in range(n)" in archspec.loads(
        spec("g=dropout(min(q * i, 0.3)) x n")
    ).source("torch")
    # the first copy differs (its input): written apart, the loop from the second
    assert looped(spec("g=(conv(16, 1) dropout(q * i)) x n")) == {"n": [("g", False)]}


def test_a_decision_on_the_index_or_the_count_is_no_loop() -> None:
    # n + 1 and n + 2 show the same copies: the tenth would be another
    assert looped(spec("g=(conv(8 if i < 9 else 16, 1) relu) x n")) == {}
    assert looped(spec("g=dropout(q * i / n) x n relu if n > 2")) == {}
    assert looped(spec("g=conv(8, 1, stride=1 + i // 9) x n")) == {}
    assert looped(spec("g=dropout(q * i) x n maxpool(n)")) == {}  # n is a kernel size too


def test_a_run_sharing_its_group_or_alone_is_no_loop() -> None:
    assert looped(spec("g=(conv(8, 1) dropout(q * i) x n)")) == {}
    assert looped(spec("g=dropout(q * i / n) x n", params="n: 1, q: 0.2")) == {}
    # a block class holding the run would need the count as its argument
    text = spec("g=holder(q)").replace(
        "stem:", "define: |\n  block holder(r) = dropout(r * i) x 2 relu\nstem:"
    )
    assert looped(text) == {}


def test_densenet_takes_its_block_counts() -> None:
    knobs = {k.name: k for k in archspec.load(DENSENET).knobs()}
    assert list(knobs) == ["growth", "init", "b1", "b2", "b3", "b4", "bn_size", "num_classes"] + [
        "in_channels"
    ]
    blocks = [
        (run.path, run.first_alike) for b in ("b1", "b2", "b3", "b4") for run in knobs[b].looped
    ]
    assert blocks == [(f"features.denseblock{k}", True) for k in range(1, 5)]


def test_copies_that_grow_otherwise_than_by_a_step_are_no_loop() -> None:
    doubling = "define: |\n  block dbl() = conv(in_channels * 2, 1)\nstem:"
    assert looped(spec("g=dbl() x n").replace("stem:", doubling)) == {}
    growing = "define: |\n  block grow(k) = concat(identity, conv(k, 1) relu)\nstem:"
    assert looped(spec("g=grow(4) x n").replace("stem:", growing)) == {"n": [("g", True)]}
    squared = spec("g=grow(4 * i + 4) x n").replace("stem:", growing)  # 8 + 2i(i + 1) wide
    assert looped(squared) == {}


# ---- the emitted class


def test_emitted_convnext_loops_over_each_stage() -> None:
    source = archspec.load(CONVNEXT).source("torch")
    assert "p_denominator = d1 + d2 + d3 + d4 - 1" in source
    assert "p=sd * (d1 + d2 + i) / p_denominator," in source
    assert "for i in range(d3)" in source
    assert source.count("CnblockBlock(") == 4 + 1  # one a stage, and the class itself


def test_emitted_convnext_at_other_depths_is_the_spec_there(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from torch_helpers import assert_same_network

    cls = emitted_class(archspec.load(CONVNEXT), tmp_path, "torch")
    arch = archspec.load(CONVNEXT, input="3x32x32", **SMALL)
    emitted = cls(**SMALL)
    rates = [m.p for m in emitted.modules() if type(m).__name__ == "StochasticDepth"]
    assert rates == pytest.approx([0.3 * k / 8 for k in range(9)])
    assert_same_network(emitted, arch.to_torch(), arch.network.input)
    with pytest.raises(ValueError, match="d3"):
        cls(d3=0)


def test_flax_emitted_convnext_at_other_depths_is_the_spec_there(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("flax")
    from flax_helpers import assert_emitted_builds_as_spec

    cls = emitted_class(archspec.load(CONVNEXT), tmp_path, "flax")
    arch = archspec.load(CONVNEXT, input="3x32x32", **SMALL)
    assert_emitted_builds_as_spec(cls, arch, **SMALL)


@pytest.mark.parametrize("backend", ["torch", "flax"])
def test_a_loop_apart_from_its_first_copy_builds_the_spec(backend: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    # the first copy's rate reads the count alone: written with its expression too
    text = spec('g=(conv(16, 1) bn relu dropout(0.1 * (i + 1) / n)) x n as "u{i}"')
    cls = emitted_class(archspec.loads(text), tmp_path, backend)
    source = archspec.loads(text).source(backend)
    assert "for i in range(1, n)" in source
    for n in (1, 2, 5):
        arch = archspec.loads(text, n=n)
        if backend == "torch":
            from torch_helpers import assert_same_network

            assert_same_network(cls(n=n), arch.to_torch(), arch.network.input)
        else:
            pytest.importorskip("flax")
            from flax_helpers import assert_emitted_builds_as_spec

            assert_emitted_builds_as_spec(cls, arch, n=n)


def test_emitted_densenet_grows_each_block_from_the_counts_before_it() -> None:
    source = archspec.load(DENSENET).source("torch")
    assert "DenseLayerBlock(\n" in source and "init + i * growth," in source
    assert "(init + b1 * growth) // 2 + i * growth," in source
    assert (
        "transition2_conv_out_channels = ((init + b1 * growth) // 2 + b2 * growth) // 2" in source
    )
    assert "for i in range(b4)" in source


@pytest.mark.parametrize("backend", ["torch", "flax"])
def test_emitted_densenet_at_other_counts_is_the_spec_there(backend: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    cls = emitted_class(archspec.load(DENSENET), tmp_path, backend)
    arch = archspec.load(DENSENET, input="3x32x32", **SMALL_DENSE)
    if backend == "torch":
        from torch_helpers import assert_same_network

        assert_same_network(cls(**SMALL_DENSE), arch.to_torch(), arch.network.input)
    else:
        pytest.importorskip("flax")
        from flax_helpers import assert_emitted_builds_as_spec

        assert_emitted_builds_as_spec(cls, arch, **SMALL_DENSE)


def test_densenet121_at_densenet161s_sizes_is_densenet161(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    cls = emitted_class(archspec.load(DENSENET), tmp_path, "torch")
    emitted = cls(growth=48, init=96, b3=36, b4=24)
    reference = archspec.load("torchvision/densenet161").to_torch()
    layout = [(k, t.shape) for k, t in emitted.state_dict().items()]
    assert layout == [(k, t.shape) for k, t in reference.state_dict().items()]


def test_a_loop_of_a_class_whose_fields_agree_only_in_value(tmp_path: Path) -> None:
    """Found by the soundness property test: the block's output channels are ``8`` in
    one field and ``4 * p`` in another (equal at the spec's ``p``, which is no keyword);
    the loop writes the copies with the value they share."""
    pytest.importorskip("torch")
    from torch_helpers import assert_same_network

    define = (
        "define: |\n  block b(a, r) = conv(8, a) dropout(r) conv(4 * a, 1) + shortcut -> relu\n"
    )
    text = spec("g=b(p, q) x n", params="n: 2, p: 2, q: 0.25").replace("stem:", define + "stem:")
    text = text.replace("input: 3x8x8", "input: 3x8x8\nshortcut: same")
    assert looped(text) == {"n": [("g", False)]}
    cls = emitted_class(archspec.loads(text), tmp_path, "torch")
    for n in (1, 3):
        arch = archspec.loads(text, n=n)
        assert_same_network(cls(n=n), arch.to_torch(), arch.network.input)


def test_archspec_build_writes_the_loop_for_a_spec_file(tmp_path: Path) -> None:
    """End to end from the command line: a spec file whose copies grow and read their
    index (a small DenseNet with a rising dropout), ``archspec build -o``, the written
    file imported and built at other counts on both sides."""
    pytest.importorskip("torch")
    from torch_helpers import assert_same_network, built_with_cli

    spec = tmp_path / "dense.yaml"
    spec.write_text(
        "name: dense\ninput: 3x16x16\nparams: {n: 3, k: 4, q: 0.3}\n"
        "define: |\n  block grow(k, p) = concat(identity, conv(k, 3) relu dropout(p))\n"
        'stem: conv(8, 3) blocks=grow(k, q * i / n) x n as "layer{n}"\n'
        "head: pool=global_avgpool flatten=flatten fc=fc(10)\n"
    )
    text, cls = built_with_cli(spec)
    assert "GrowBlock(8 + i * k, k, p=q * i / n)" in text and "for i in range(n)" in text
    assert "nn.Linear(8 + n * k, 10)" in text  # the head reads the count
    for n in (1, 2, 6):
        built = archspec.load(str(spec), n=n, k=5).to_torch()
        assert_same_network(cls(n=n, k=5), built, (3, 16, 16))
