"""Depths computed from a keyword: EfficientNet's ``depth_mult``, a loop over each count.

EfficientNet scales every stage's depth by one number, ``n2 = ceil(2 * depth_mult)``, and
torchvision's ``EfficientNet`` takes it. The rule (``archspec.codegen.indexed``) finds the
counts that ``let``s compute from one parameter alone, checks them as it checks a depth
keyword's loops (the spec compiled one and three larger), and the class binds each count
as a local checked as a spec checks a count. A run of one copy at the default is written
from the loop's template; its class is resolved from the larger networks. Cost, alone on
one core: 9 s, mostly EfficientNet-B0 built at small sizes in torch and Flax.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_depth_knobs import emitted_class

import archspec
from archspec import ir

B0 = "torchvision/efficientnet_b0"
REGNET = "torchvision/regnet_y_400mf"
DESIGN = ("depth", "w0", "wa", "wm", "group_width")
"""A RegNet's design-space parameters: a member of the space is its values of these."""
SMALL_REGNET = {"depth": 12, "w0": 16, "wa": 8.0, "wm": 2.0, "group_width": 8}
"""A RegNet of 1, 3, 6 and 2 blocks of 16 to 128 channels: quick to build."""
SMALL = {"depth_mult": 1.4, "width_mult": 0.5, "stochastic_depth_prob": 0.3}
"""EfficientNet-B0's keywords at sizes a test builds quickly, every stage deeper."""
SMALLER = {"depth_mult": 0.6, "width_mult": 0.5}
"""Shallower still, for Flax, whose build of each block is the slow part."""


LETS = "m: ceil(3 * d) + e, k: 'max(e, ceil(d * 10))'"
"""Two counts, each reading both parameters."""


def spec(stem: str, params: str = "d: 0.3, q: 0.2", lets: str = "m: ceil(3 * d)") -> str:
    return (
        f"name: t\ninput: 3x8x8\nparams: {{{params}}}\nlet: {{{lets}}}\n"
        f"stem: conv(8, 3) {stem}\nhead: pool=global_avgpool flatten=flatten fc=fc(10)\n"
    )


def computed(text: str) -> dict[str, list[str]]:
    """Each keyword whose counts are computed: the names of those counts."""
    return {k.name: [name for name, _ in k.counts] for k in archspec.loads(text).knobs()}


# ---- the rule


def test_efficientnet_takes_its_depth_multiplier() -> None:
    knobs = {k.name: k for k in archspec.load(B0).knobs()}
    assert "depth_mult" in knobs
    depth = knobs["depth_mult"]
    assert [name for name, _ in depth.counts] == [f"n{k}" for k in range(1, 8)]
    assert sorted(depth.groups) == [f"features.{k}" for k in range(1, 8)]
    assert [path for path, _, _ in depth.later] == ["features.1", "features.7"]  # one copy


def test_a_count_computed_from_one_number_is_a_loop() -> None:
    found = computed(spec("g=(conv(8, 1) dropout(q * i / m) relu) x m"))
    assert found["d"] == ["m"]
    found = computed(spec("g=(conv(8, 1) relu) x m", "n: 2", "m: 2 * n + 1"))
    assert found["n"] == ["m"]


def test_counts_read_by_several_parameters_are_one_family() -> None:
    # the first in the spec's order owns the loops; the others go with it
    text = spec("g=(conv(e, 1) relu) x m h=(conv(8, 1) relu) x k", "d: 0.3, e: 2", LETS)
    knobs = {k.name: k for k in archspec.loads(text).knobs()}
    assert [name for name, _ in knobs["d"].counts] == ["m", "k"]
    assert sorted(knobs["d"].groups) == ["g", "h"] and not knobs["e"].groups
    assert knobs["e"].counted_by == "d"


@pytest.mark.parametrize(
    ("params", "lets", "stem"),
    [
        # one of the parameters a count reads together decides something else
        ("d: 0.3, e: 2", "m: ceil(3 * d) + e", "g=(conv(8, 1) relu) x m relu if e > 1"),
        # the number decides something else too
        ("d: 0.3", "m: ceil(3 * d)", "g=(conv(8, 1) relu) x m relu if d > 0.2"),
        # a count of its own and a computed one
        ("n: 2", "m: n + 1", "g=(conv(8, 1) relu) x m h=(conv(8, 1) relu) x n"),
        # the copies' shape reads the index: a larger count changes what follows
        ("d: 0.6", "m: ceil(3 * d)", "g=(conv(8, 1) maxpool(1 + i // 3, stride=1)) x m"),
    ],
)
def test_what_the_rule_refuses(params: str, lets: str, stem: str) -> None:
    text = spec(stem, params, lets)
    assert not any(k.counts for k in archspec.loads(text).knobs())


def test_regnet_takes_its_design_space() -> None:
    knobs = {k.name: k for k in archspec.load(REGNET).knobs()}
    assert [name for name, _ in knobs["depth"].counts] == ["n1", "n2", "n3", "n4"]
    assert sorted(knobs["depth"].groups) == [f"trunk_output.block{k}" for k in range(1, 5)]
    assert all(knobs[name].counted_by == "depth" for name in ("w0", "wa", "wm"))


def test_a_family_of_many_parameters_is_tried_at_fewer_values_of_each() -> None:
    from archspec.codegen.computed import POINTS, rated_points

    names = ["a", "b", "c", "e", "f", "g"]
    params = ", ".join(f"{name}: 1" for name in names)
    text = spec("s=(conv(8, 1) dropout(0.1 * i / m) relu) x m", params, f"m: {' + '.join(names)}")
    arch = archspec.loads(text)
    traced = arch.traced
    assert traced is not None
    counts = {"m": traced.counts["m"]}
    assert len(rated_points(arch.arguments, names, counts)) <= POINTS  # 3 values each
    knobs = {k.name: k for k in arch.knobs()}
    assert [name for name, _ in knobs["a"].counts] == ["m"]
    assert all(knobs[name].counted_by == "a" for name in names[1:])


# ---- the emitted class


def test_emitted_efficientnet_binds_each_stage_depth() -> None:
    source = archspec.load(B0).source("torch")
    assert 'n2 = check_depth("n2", math.ceil(2 * depth_mult))' in source
    assert "p=stochastic_depth_prob * (n1 + i) / p_denominator," in source
    assert "for i in range(1, n7)" in source
    assert "The ``mbconv`` block (the copies a larger depth adds)" in source


@pytest.mark.parametrize("backend", ["torch", "flax"])
def test_emitted_efficientnet_at_other_depths_is_the_spec_there(
    backend: str, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    cls = emitted_class(archspec.load(B0), tmp_path, backend)
    if backend == "flax":
        pytest.importorskip("flax")
        from flax_helpers import assert_emitted_builds_as_spec

        arch = archspec.load(B0, input="3x32x32", **SMALLER)
        assert_emitted_builds_as_spec(cls, arch, **SMALLER)
        return
    arch = archspec.load(B0, input="3x32x32", **SMALL)
    from torch_helpers import assert_same_network

    emitted = cls(**SMALL)
    rates = [m.p for m in emitted.modules() if type(m).__name__ == "StochasticDepth"]
    built = arch.to_torch()
    assert rates == pytest.approx(
        [m.p for m in built.modules() if type(m).__name__ == "StochasticDepth"]
    )
    assert len(rates) == 26 - 7  # every copy but each stage's first: depths 2,3,3,5,5,6,2
    assert_same_network(emitted, built, arch.network.input)
    with pytest.raises(ValueError, match="n1"):
        cls(depth_mult=0.0)


def test_efficientnet_b0_at_b1s_depth_is_b1(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    cls = emitted_class(archspec.load(B0), tmp_path, "torch")
    emitted = cls(depth_mult=1.1)
    reference = archspec.load("torchvision/efficientnet_b1").to_torch()
    layout = [(k, t.shape) for k, t in emitted.state_dict().items()]
    assert layout == [(k, t.shape) for k, t in reference.state_dict().items()]


@pytest.mark.parametrize("backend", ["torch", "flax"])
def test_a_lone_copy_at_the_default_builds_the_spec_at_every_count(
    backend: str, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    # one copy at d = 0.3; the later ones read their index and the width
    text = spec(
        'g=(conv(w, 1) bn dropout(q * (i + 1) / m) relu) x m as "u{n}"',
        "d: 0.3, q: 0.2, w: 8",
    )
    cls = emitted_class(archspec.loads(text), tmp_path, backend)
    for values in ({"d": 0.3}, {"d": 1.0, "w": 6}, {"d": 2.0, "q": 0.5}):
        arch = archspec.loads(text, **values)
        if backend == "torch":
            from torch_helpers import assert_same_network

            assert_same_network(cls(**values), arch.to_torch(), arch.network.input)
        else:
            pytest.importorskip("flax")
            from flax_helpers import assert_emitted_builds_as_spec

            assert_emitted_builds_as_spec(cls, arch, **values)


def test_emitted_regnet_computes_its_stage_depths() -> None:
    source = archspec.load(REGNET).source("torch")
    assert 'n1 = check_depth("n1", min(depth, math.ceil(w0 * (wm**0.5 - 1) / wa)))' in source
    assert 'n4 = check_depth("n4", depth - n1 - n2 - n3)' in source
    assert "for i in range(1, n3)" in source


@pytest.mark.parametrize(
    ("base", "other"),
    [
        (REGNET, "torchvision/regnet_y_800mf"),
        ("torchvision/regnet_x_800mf", "torchvision/regnet_x_400mf"),
    ],
)
def test_a_regnet_at_another_members_values_is_that_member(
    base: str, other: str, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    from torch_helpers import assert_same_network

    cls = emitted_class(archspec.load(base), tmp_path, "torch")
    member = archspec.load(other)
    values = {name: member.arguments[name] for name in DESIGN}
    layout = [(k, t.shape) for k, t in cls(**values).state_dict().items()]
    assert layout == [(k, t.shape) for k, t in member.to_torch().state_dict().items()]
    small = archspec.load(other, input="3x32x32")
    assert_same_network(cls(**values), small.to_torch(), small.network.input)


def test_flax_emitted_regnet_at_other_values_is_the_spec_there(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("flax")
    from flax_helpers import assert_emitted_builds_as_spec

    cls = emitted_class(archspec.load(REGNET), tmp_path, "flax")
    arch = archspec.load(REGNET, input="3x32x32", **SMALL_REGNET)
    blocks = [ir.find_group(arch.network, f"trunk_output.block{k}") for k in range(1, 5)]
    assert [len(group.members) for group in blocks if group is not None] == [1, 3, 6, 2]
    assert_emitted_builds_as_spec(cls, arch, **SMALL_REGNET)


def test_archspec_build_writes_the_computed_counts_for_a_spec_file(tmp_path: Path) -> None:
    """A spec file a user writes, scaled EfficientNet's way: ``archspec build -o``, the
    written file imported and built at other multipliers on both sides."""
    pytest.importorskip("torch")
    from torch_helpers import assert_same_network, built_with_cli

    spec = tmp_path / "scaled.yaml"
    spec.write_text(
        "name: scaled\ninput: 3x16x16\nparams: {depth: 1.0, width: 16, q: 0.2}\n"
        "let: {n1: ceil(2 * depth), n2: ceil(3 * depth)}\n"
        "stem: >-\n  conv(width, 3)\n"
        "  s1=(conv(width, 3) bn relu dropout(q * i / (n1 + n2))) x n1\n"
        "  s2=(conv(2 * width, 3) bn relu dropout(q * (n1 + i) / (n1 + n2))) x n2 /2\n"
        "head: pool=global_avgpool flatten=flatten fc=fc(10)\n"
    )
    text, cls = built_with_cli(spec)
    assert 'n2 = check_depth("n2", math.ceil(3 * depth))' in text
    assert "for i in range(1, n2)" in text
    for values in ({"depth": 0.5}, {"depth": 2.2, "width": 8}, {"depth": 1.0, "q": 0.4}):
        built = archspec.load(str(spec), **values).to_torch()
        assert_same_network(cls(**values), built, (3, 16, 16))
