"""Spec parameters that reach block classes as keywords of the emitted network class.

A parameter passed whole to a block that reads it only as whole arguments (of its layers,
or of blocks that do the same) is a keyword: the block's class takes it as a constructor
argument and the network class passes it on (``ViTB16(num_heads=6)``). What the block
computes from it the network class computes too; a shortcut or branch chosen by it is a
guard the class checks; a count made from it leaves it a build-time value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import archspec
from archspec import terms

HEAD = "head: pool=global_avgpool flatten=flatten fc=fc(10)\n"


def spec(define: str, stem: str, params: str, shortcut: str = "B") -> str:
    definitions = "".join(f"  {line}\n" for line in define.splitlines())
    return (
        f"name: t\ninput: 3x8x8\nshortcut: {shortcut}\nparams: {{{params}}}\n"
        f"define: |\n{definitions}stem: {stem}\n{HEAD}"
    )


UNIT = "block unit(width, groups, rate) = conv(width, 3, groups=groups) bn relu dropout(rate)"
RUN = "conv(8, 3) g=unit(8, k, p) x 3"


def knobs(text: str) -> set[str]:
    return {k.name for k in archspec.loads(text).knobs()}


def test_a_parameter_a_block_reads_whole_is_a_keyword() -> None:
    assert knobs(spec(UNIT, RUN, "k: 2, p: 0.1")) == {"k", "p"}
    # passed by keyword, or on through another block that reads it whole
    assert knobs(spec(UNIT, "conv(8, 3) g=unit(8, rate=p, groups=k)", "k: 2, p: 0.1")) == {
        "k",
        "p",
    }
    outer = UNIT + "\nblock outer(g, r) = unit(8, g, r) relu"
    assert knobs(spec(outer, "conv(8, 3) g=outer(k, p)", "k: 2, p: 0.1")) == {"k", "p"}


@pytest.mark.parametrize(
    "define",
    [
        UNIT.replace("groups=groups", "groups=max(groups, 1)"),
        UNIT.replace("dropout(rate)", "dropout(rate / 2)"),
        UNIT.replace("rate) =", "rate, g=groups) =").replace("groups=groups", "groups=g"),
        UNIT.replace(") = conv", ") = let r = rate\n    conv").replace("(rate)", "(r)"),
        UNIT + "\nblock outer(g, r) = unit(8, g * 1, r + 0.0) relu",
    ],
    ids=["function", "arithmetic", "default", "let", "passed-computed"],
)
def test_a_parameter_a_block_computes_on_is_a_keyword_the_call_computes(
    define: str, tmp_path: Path
) -> None:
    """What a block computes from a parameter, the network class computes too, from the
    spec lowered on traced numbers (``codegen.formulas``)."""
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    stem = "conv(8, 3) g=outer(k, p)" if "outer" in define else RUN
    text = spec(define, stem, "k: 2, p: 0.1")
    assert knobs(text) == {"k", "p"}
    cls = emitted_class(archspec.loads(text), tmp_path, "torch")
    for values in ({"k": 4, "p": 0.3}, {"k": 1, "p": 0.0}):
        assert_same_network(cls(**values), archspec.loads(text, **values).to_torch(), (3, 8, 8))


def guards(text: str) -> dict[str, list[str]]:
    """Each keyword's guards as the emitted class writes them."""
    arch = archspec.loads(text)
    names = {name: name for name in arch.arguments}
    written = {k.name: [terms.render(g, names, {}, repr) for g in k.guards] for k in arch.knobs()}
    return {name: found for name, found in written.items() if found}


def test_a_condition_on_a_parameter_is_a_guard_the_class_checks() -> None:
    """A condition on it, in a block or in the network, chose the structure: the class
    takes it and checks that the condition still holds (``check_structure``); a count
    made from it pins it."""
    chosen = UNIT.replace("groups=groups", "groups=groups if groups > 1 else 1")
    assert guards(spec(chosen, RUN, "k: 2, p: 0.1")) == {"k": ["k > 1"]}
    counted = RUN.replace("x 3", "x (3 if k > 1 else 2)")
    assert guards(spec(UNIT, counted, "k: 2, p: 0.1")) == {"k": ["k > 1"]}
    assert knobs(spec(UNIT, RUN.replace("x 3", "x (k + 1)"), "k: 2, p: 0.1")) == {"p"}


def test_a_width_that_sets_the_shapes_a_shortcut_is_chosen_from_is_guarded(
    tmp_path: Path,
) -> None:
    """Under option ``same`` a block keeps a residual addition only where its shape stays:
    the stem's width 8 feeding ``res(16)`` has none, 16 would. The class writes none and
    refuses ``w=16``; at any other width it is the spec's network."""
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    res = "block res(w) = conv(w, 3) bn + shortcut -> relu"
    text = spec(res, "conv(w, 3) g=res(16)", "w: 8", shortcut="same")
    assert guards(text) == {"w": ["w != 16"]}
    steps = archspec.loads(text, w=16).network.members[1].node.flow.steps  # type: ignore[union-attr]
    assert any(type(step).__name__ == "Parallel" for step in steps)
    cls = emitted_class(archspec.loads(text), tmp_path)
    assert_same_network(cls(w=12), archspec.loads(text, w=12).to_torch(), (3, 8, 8))
    with pytest.raises(ValueError, match="w=16 changes the network's structure"):
        cls(w=16)
    # `+ identity` too: under option same it is dropped where the shapes differ, whether
    # the keyword reaches the block's arguments or only its input
    pooled = "block pooled(a) = maxpool(a, stride=1, padding=0) conv(8, 1) + identity"
    assert guards(spec(pooled, "conv(8, 3) g=pooled(k)", "k: 3", shortcut="same")) == {
        "k": ["8 - k + 1 != 8"]
    }
    kept = "block kept(c) = conv(c, 3) bn + identity -> relu"
    assert guards(spec(kept, "conv(w, 3) g=kept(16)", "w: 8", shortcut="same")) == {
        "w": ["w != 16"]
    }
    # a width around a block without a shortcut has no guard
    plain = spec("block plain(w) = conv(w, 3) bn relu", "conv(w, 3) g=plain(16)", "w: 8")
    assert knobs(plain) == {"w"} and guards(plain) == {}


def test_a_kernel_whose_padding_is_computed_from_it_writes_the_padding_computed() -> None:
    """``conv(8, k)`` pads by ``(k - 1) // 2``: 1 at 3 and at 4, so one probe cannot tell
    the kernel from a whole argument (``Op.COMPUTED_DEFAULTS``). Traced, the padding is
    written as computed. Inside a class the padding does not change at ``k + 1``: the
    probe ``2 * k`` tells it from the kernel, and the class takes it as an argument."""
    network = "name: t\ninput: 3x8x8\nparams: {k: 3}\nstem: conv(8, k) relu\n" + HEAD
    assert knobs(network) == {"k"}
    assert "kernel_size=k, padding=(k - 1) // 2" in archspec.loads(network).source("torch")
    assert knobs(network.replace("conv(8, k)", "conv(8, k, padding=1)")) == {"k"}
    inside = spec("block b(a) = conv(8, a) relu", "conv(8, 3) g=b(k)", "k: 3")
    assert knobs(inside) == {"k"}
    assert "PlainBBlock(8, 8, a=k, conv0_padding=(k - 1) // 2)" in archspec.loads(inside).source(
        "torch"
    )


@pytest.mark.parametrize(
    ("held", "uses", "kept"),
    [
        ("bn(eps=e)", "g=b(8, nl=norm)", {"e"}),  # passed whole to a block that calls it
        ("bn(eps=e)", "g=b(8, nl=norm) norm", {"e"}),  # called here too
        ("bn(eps=e * 2)", "g=b(8, nl=norm)", {"e"}),  # computed on: written as computed
        ("bn(eps=e)", "g=b(8, nl=norm) relu if norm == bn(eps=0.001)", set()),  # decided on
        ("conv(8, k)", "norm", {"k"}),  # the padding computed from the kernel, written
        ("conv(8, k, padding=1)", "norm", {"k"}),
    ],
)
def test_a_layer_a_let_holds_passes_its_whole_arguments_on(
    held: str, uses: str, kept: set[str]
) -> None:
    """timm's norm_layer, torchvision EfficientNet's ``norm``: ``let norm = bn(eps=e)``."""
    text = (
        "name: t\ninput: 3x8x8\nparams: {e: 0.001, k: 3}\n"
        f"let: {{norm: '{held}'}}\n"
        "define: |\n  block b(c, nl=bn) = conv(c, 3) nl relu\n"
        f"stem: conv(8, 3) {uses}\n{HEAD}"
    )
    assert knobs(text) == kept


def test_efficientnet_b0_takes_b5s_batch_norm_settings(tmp_path: Path) -> None:
    """``EfficientNetB0(bn_eps=0.001, bn_momentum=0.01)``: every block class takes them."""
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class

    small = {"input": "3x32x32"}
    cls = emitted_class(archspec.load("torchvision/efficientnet_b0", **small), tmp_path)
    b5 = {"bn_eps": 0.001, "bn_momentum": 0.01}
    assert_builds_as_spec(cls, "torchvision/efficientnet_b0", **small, **b5)


def test_a_head_count_is_probed_at_twice_where_one_more_does_not_divide() -> None:
    vit = archspec.load("timm/vit_small_patch16_224")  # 384 features, 6 heads: 7 fails
    found = {k.name: k for k in vit.knobs()}
    assert {"num_heads", "drop", "attention_drop", "depth"} <= set(found)
    assert found["num_heads"].probe == 12


def test_the_block_class_takes_the_keyword_under_the_blocks_own_name() -> None:
    source = archspec.load("torchvision/vit_b_16").source("torch")
    block = source[source.index("class EncoderLayerBlock") : source.index("class EncoderBlock")]
    assert "num_heads: int = 12," in block and "drop: float = 0.0," in block
    assert "attention_dropout=attention_drop" in block and "nn.Dropout(p=drop)" in block
    network = source[source.index("class ViTB16") :]
    assert "num_heads=num_heads," in network and "attention_drop=attention_drop," in network
    assert "hidden_dim: int = 768," in network and "mlp_dim: int = 3072," in network
    # timm's blocks are a run: every copy takes the keyword
    timm = archspec.load("timm/vit_small_patch16_224").source("torch")
    assert "num_heads=num_heads,\n                    drop=drop," in timm
    assert "for _ in range(depth)" in timm


def assert_builds_as_spec(cls: Any, name_or_text: str, **keywords: Any) -> None:
    """The emitted class built with ``keywords`` is the spec compiled with them."""
    from torch_helpers import assert_same_network

    build_only = ("num_layers", "input")  # what the emitted file was built with
    if "\n" in name_or_text:
        arch = archspec.loads(name_or_text, **keywords)
    else:
        arch = archspec.load(name_or_text, **keywords)
    emitted = cls(**{k: v for k, v in keywords.items() if k not in build_only})
    assert_same_network(emitted, arch.to_torch(), arch.network.input)


def test_emitted_block_keywords_build_what_the_spec_builds(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class

    text = spec(UNIT, RUN, "k: 2, p: 0.1")
    cls = emitted_class(archspec.loads(text), tmp_path)
    for keywords in ({"k": 4, "p": 0.3}, {"k": 1, "p": 0.0}, {"k": 8}):
        assert_builds_as_spec(cls, text, **keywords)


def test_a_vit_b_16_file_builds_a_small_vit(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class

    cls = emitted_class(archspec.load("torchvision/vit_b_16", num_layers=2), tmp_path)
    small = {"hidden_dim": 64, "num_heads": 4, "mlp_dim": 96, "drop": 0.1, "attention_drop": 0.2}
    assert_builds_as_spec(cls, "torchvision/vit_b_16", num_layers=2, **small)
    timm = emitted_class(archspec.load("timm/deit_tiny_patch16_224"), tmp_path)
    assert_builds_as_spec(timm, "timm/deit_tiny_patch16_224", depth=2, num_heads=4, drop=0.1)


def test_flax_emitted_block_keywords_build_what_the_spec_builds(tmp_path: Path) -> None:
    pytest.importorskip("flax")
    pytest.importorskip("torch")
    from flax_helpers import assert_emitted_builds_as_spec
    from test_depth_knobs import emitted_class

    text = spec(UNIT, RUN, "k: 2, p: 0.1")
    cls = emitted_class(archspec.loads(text), tmp_path, "flax")
    assert_emitted_builds_as_spec(cls, archspec.loads(text, k=4, p=0.3), k=4, p=0.3)
    vit = emitted_class(archspec.load("torchvision/vit_b_16", num_layers=1), tmp_path, "flax")
    small = {"hidden_dim": 32, "num_heads": 2, "mlp_dim": 48}
    arch = archspec.load("torchvision/vit_b_16", num_layers=1, **small)
    assert_emitted_builds_as_spec(vit, arch, **small)
