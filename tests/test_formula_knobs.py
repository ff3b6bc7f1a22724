"""Keywords the emitted class computes with (``archspec.symbolic``, ``codegen.formulas``).

Lowering runs again on traced numbers: each field computed from a spec parameter holds
its expression, each comparison (a condition, a shortcut choice) is recorded as the one
that held, and every parameter another decision read (a count, a key) is pinned. A
parameter nothing pinned whose expressions give the spec's fields at a probe is a
keyword; the emitted class writes those expressions and checks the comparisons
(``tests/test_structure_guards.py``).
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Any

import pytest

import archspec
from archspec import ir, symbolic, terms
from archspec.terms import Term


def traced(name: str, value: int | float) -> int | float:
    return symbolic.traced(value, terms.name(name))


def spelled(value: object, *keywords: str) -> str:
    term = symbolic.term_of(value)
    assert term is not None
    return terms.render(term, {k: k for k in keywords}, {"w": 64, "g": 2, "r": 0.5}, repr)


def test_arithmetic_on_traced_numbers_keeps_the_value_and_the_expression() -> None:
    w, g = traced("w", 64), traced("g", 2)
    width = 128 * w // 64 * g
    assert width == 256 and isinstance(width, int)
    assert spelled(width, "w", "g") == "2 * w * g"  # 128 * w // 64, exactly
    assert spelled((w + 3) * (g - 1), "w", "g") == "(w + 3) * (g - 1)"
    assert spelled(-(w - g), "w", "g") == "-(w - g)"
    assert spelled(2 ** (w // 32), "w") == "2 ** (w // 32)"
    # a parameter that is no keyword is written as its value, and so is all it computes
    assert spelled(w * g + 1, "w") == "w * 2 + 1"
    assert spelled(w * g, "g") == "64 * g"
    # the value at other parameters is computed as lowering computes it
    term = symbolic.term_of(128 * w // 64 * g)
    assert term is not None and terms.value_at(term, {"w": 4, "g": 32}) == 256


def test_the_shape_rules_arithmetic_is_simplified_exactly() -> None:
    """``1 * x``, ``x + 0`` and a whole number's constants fold away; a sum of copies is
    a multiple (DenseNet's channels); a whole ``(k * x) // m`` where m divides k is
    ``(k // m) * x`` (ShuffleNet's halves joined and halved again); a float's
    ``(x - 1) + 1`` and ``(2 * x) // 2`` are left as written."""
    p = traced("p", 16)
    assert spelled(224 - (1 * (p - 1) + 1), "p") == "224 - p"
    assert spelled(((p + p) + p) + p, "p") == "4 * p"
    assert spelled(64 + p + p + p, "p") == "64 + 3 * p"
    assert spelled(p * p + 1, "p") == "p**2 + 1"  # as ruff writes a power of names
    assert spelled((p // 2 + p // 2) // 2, "p") == "p // 2"
    assert spelled(128 * p // 64, "p") == "2 * p"
    assert spelled(64 * p // 64, "p") == "p"
    assert spelled(6 * p // 4, "p") == "6 * p // 4"  # 4 does not divide 6
    r = traced("r", 0.5)
    assert spelled((r - 1) + 1, "r") == "r - 1 + 1"
    assert spelled(2 * r // 2, "r") == "2 * r // 2"  # 0.5, not 0.0


def test_a_comparison_of_two_multiples_of_one_term_is_against_zero() -> None:
    """For whole numbers ``a * x == b * x`` (a and b distinct) is ``x == 0``, on either
    side and with the factor on either side; equal multiples and floats stay written."""
    with symbolic.tracing() as seen:
        w, r = traced("w", 64), traced("r", 0.5)
        assert w != w * 4 and 3 * w != 2 * w and w * 2 != w * 3
        equal = 2 * (w + 1) == w + 1  # an == that failed is recorded as the != that held
        assert equal is False and r != r * 4
    # the first three are one guard now (the factor on either side of either term)
    assert [str_of(guard) for guard in seen.guards] == ["w != 0", "w + 1 != 0", "r != r * 4"]


def str_of(guard: terms.Term) -> str:
    return terms.render(guard, {name: name for name in guard.reads}, {}, repr)


def test_decisions_are_recorded_and_checks_are_not() -> None:
    with symbolic.tracing() as seen:
        w, g = traced("w", 64), traced("g", 2)
        with symbolic.checking():
            assert w % g == 0 and w > 1  # a check that only refuses a value
        assert seen.decided == set() and seen.guards == {}
        _ = {w: 1}  # a key pins (two keys could merge at another value)
        assert seen.decided == {"w"}
        assert symbolic.pinned(g * 2) == 4  # so does a count: range(n) asks no method
        assert seen.decided == {"w", "g"}
    # outside a trace a traced number is a number
    assert traced("w", 3) == 3 and hash(traced("w", 3)) == hash(3)


def test_comparisons_are_recorded_as_the_guards_that_held() -> None:
    """A comparison is kept as the comparison that held, a plain float on the left too
    (``float.__lt__`` would see only the number); ``x == x`` holds at every value and a
    shape's untraced sizes are compared first, so neither records anything."""
    with symbolic.tracing() as seen:
        w, g = traced("w", 64), traced("g", 2)
        held = w // g == 32
        assert held is True  # a plain bool, and the comparison recorded
        assert symbolic.compare("<", 0.5, w) and not symbolic.compare(">", w, 100)
        assert w + 1 == w + 1
        assert not symbolic.equal((w, 8, 8), (g, 4, 4))  # the map's size settles it
        assert symbolic.equal((w, 8), (w, 8))
    written = [terms.render(t, {"w": "w", "g": "g"}, {}, repr) for t in seen.guards]
    assert written == ["w // g == 32", "0.5 < w", "w <= 100"]
    assert [terms.value_at(t, {"w": 6, "g": 2}) for t in seen.guards] == [False, True, True]
    # a comparison is never chained, and binds last: (a < b) == c, not a < b == c
    nested = Term("==", (Term("<", (terms.name("a"), terms.name("b"))), terms.constant(True)))
    assert terms.render(nested, {"a": "a", "b": "b"}, {}, repr) == "(a < b) == True"


def test_functions_are_traced_and_written_as_their_entries_say() -> None:
    """Each function's entry in ``lower.functions`` says how an emitted file calls it:
    a builtin, ``math``'s, or ``make_divisible``, which the file carries."""
    from archspec.lower.functions import COPIED, FUNCTIONS

    def call(name: str, *arguments: Any) -> Any:
        entry = FUNCTIONS[name]
        return symbolic.apply(name, entry.apply, *arguments, spelling=entry.python)

    w = traced("w", 10)
    biggest = call("max", w, 16)
    assert biggest == 16 and spelled(biggest, "w") == "max(w, 16)"
    divisible = call("make_divisible", w * 3, 8)
    used: set[str] = set()
    term = symbolic.term_of(call("ceil", divisible / 3))
    assert term is not None and terms.renderable(term)
    written = terms.render(term, {"w": "w"}, {}, repr, used=used)
    assert written == "math.ceil(make_divisible(w * 3, 8) / 3)"  # as the emitted file calls them
    assert used == {"math.ceil", "make_divisible"} and used & COPIED == {"make_divisible"}
    # exact simplifications, each function's own (lower.functions): a whole number's
    # rounding, a multiple of 8 rounded to 8 again (not with a minimum: 5 rounds to 8)
    assert FUNCTIONS["round"].unchanged == FUNCTIONS["ceil"].unchanged
    assert FUNCTIONS["round"].unchanged((w,)) is w and FUNCTIONS["round"].unchanged((2.5,)) is None
    rounded_again = FUNCTIONS["make_divisible"].unchanged
    assert rounded_again is not None and rounded_again((divisible, 8)) is divisible
    assert rounded_again((divisible, 16)) is None and rounded_again((divisible, 8, 5)) is None
    # and a whole multiple of one, from 1 (MobileNet's expansion by 6), by a whole divisor
    six, one = divisible * 6, 1 * divisible
    assert rounded_again((six, 8)) is six
    for refused in (divisible * 0, divisible * 6.0, divisible * w, divisible + 8):
        assert rounded_again((refused, 8)) is None
    assert rounded_again((one, 8)) is one
    inexact = call("make_divisible", w * 3, 0.3)  # md(4.366, 0.3) is 4, md(4, 0.3) is 3
    assert rounded_again((inexact, 0.3)) is None and FUNCTIONS["make_divisible"].apply(4, 0.3) == 3
    assert rounded_again((call("make_divisible", w, 8.0) * 2, 8.0)) is not None
    unwritten = symbolic.term_of(symbolic.apply("sum", FUNCTIONS["max"].apply, w, 1))
    assert unwritten is not None and not terms.renderable(unwritten)  # no spelling: no keyword
    assert symbolic.apply("+", operator.add, 2, 3) == 5  # plain numbers stay plain


def test_resnext_takes_groups_and_width_per_group(tmp_path: Path) -> None:
    """torchvision's bottleneck computes ``width * base_width // 64 * groups``: the
    network class passes that, exactly simplified (``128 * w // 64`` is ``2 * w``), and
    builds what the spec builds at other values."""
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    arch = archspec.load("torchvision/resnext50_32x4d", n1=1, n2=1, n3=1, n4=1, num_classes=10)
    names = [k.name for k in arch.knobs()]
    assert {"groups", "width_per_group"} <= set(names)
    source = arch.source("torch")
    assert "2 * width_per_group * groups" in source
    cls = emitted_class(arch, tmp_path)
    for values in ({"groups": 2, "width_per_group": 16}, {"groups": 1, "width_per_group": 64}):
        built = arch.with_parameters(**values).to_torch()
        assert_same_network(cls(**values), built, arch.network.input)


def test_flax_computes_the_same_expressions(tmp_path: Path) -> None:
    pytest.importorskip("flax")
    from flax_helpers import assert_emitted_builds_as_spec
    from test_depth_knobs import emitted_class

    text = (
        "name: t\ninput: 3x8x8\nparams: {w: 8, p: 0.2}\n"
        "define: |\n  block unit(c, r) = conv(c * 2, 3) bn relu dropout(r / 2)\n"
        "stem: conv(w, 3) g=unit(w + 4, p)\n"
        "head: pool=global_avgpool flatten=flatten fc=fc(10)\n"
    )
    arch = archspec.loads(text)
    assert {k.name for k in arch.knobs()} == {"w", "p"}
    cls = emitted_class(arch, tmp_path, "flax")
    assert "(w + 4) * 2" in Path(tmp_path / "t_flax.py").read_text()
    assert_emitted_builds_as_spec(cls, arch.with_parameters(w=12, p=0.4), w=12, p=0.4)


def test_a_width_whose_shortcut_holds_at_its_value_alone_is_no_keyword() -> None:
    """Option B adds a projection where the channels change: the comparison is a guard,
    ``w * 2 == 16`` here, which the probe breaks (it holds at 8 alone)."""
    text = (
        "name: t\ninput: 3x8x8\nshortcut: B\nparams: {w: 8}\n"
        "define: |\n  block res(c) = conv(c, 3) bn + shortcut -> relu\n"
        "stem: conv(w * 2, 3) g=res(16)\n"
        "head: pool=global_avgpool flatten=flatten fc=fc(10)\n"
    )
    arch = archspec.loads(text)
    assert arch.traced is not None and "w" not in arch.traced.decided
    guards = [terms.render(g, {"w": "w"}, {}, repr) for g in arch.traced.guarded("w")]
    assert guards == ["w * 2 == 16"]
    assert [k.name for k in arch.knobs()] == []


def test_a_long_expression_is_a_local_named_after_the_field_that_holds_it(
    tmp_path: Path,
) -> None:
    """DenseNet's channels grow by ``growth`` per layer and halve at each transition: the
    long expressions become locals, each part named after the transition that computes
    it, and the class builds what the spec builds at other growth rates."""
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    arch = archspec.load("torchvision/densenet121", b1=2, b2=2, b3=2, b4=2, num_classes=10)
    assert {"growth", "init", "bn_size"} <= {k.name for k in arch.knobs()}
    source = arch.source("torch")
    assert (  # the block counts are keywords too (``codegen.indexed``)
        "transition2_conv_out_channels = ((init + b1 * growth) // 2 + b2 * growth) // 2\n" in source
    )
    assert "transition3_norm_channels = transition2_conv_out_channels + b3 * growth\n" in source
    cls = emitted_class(arch, tmp_path)
    for values in ({"growth": 8, "init": 16}, {"growth": 12, "init": 24, "bn_size": 2}):
        small = arch.with_parameters(**values)
        assert_same_network(cls(**values), small.to_torch(), small.network.input)


def test_a_vit_takes_its_patch_size(tmp_path: Path) -> None:
    """The position embedding's length comes from the input and the patch size: the
    patches per side squared plus the class token, as the spec computes it."""
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    arch = archspec.load("timm/vit_small_patch16_224", depth=1, embed_dim=96, num_heads=2)
    assert "patch_size" in {k.name for k in arch.knobs()}
    source = arch.source("torch")
    assert "((224 - patch_size) // patch_size + 1) ** 2 + 1" in source
    cls = emitted_class(arch, tmp_path)
    for patch in (32, 28):
        built = arch.with_parameters(patch_size=patch).to_torch()
        assert_same_network(cls(patch_size=patch), built, arch.network.input)


def test_flax_writes_the_same_locals(tmp_path: Path) -> None:
    pytest.importorskip("flax")
    from flax_helpers import assert_emitted_builds_as_spec
    from test_depth_knobs import emitted_class

    small = {"b1": 2, "b2": 2, "b3": 2, "b4": 2, "num_classes": 10}
    arch = archspec.load("torchvision/densenet121", **small, input="3x64x64")
    cls = emitted_class(arch, tmp_path, "flax")
    assert "transition3_norm_channels = " in (tmp_path / "densenet121_flax.py").read_text()
    values = {"growth": 8, "init": 16, "bn_size": 2}
    assert_emitted_builds_as_spec(cls, arch.with_parameters(**values), **values)
    vit = archspec.load("timm/vit_small_patch16_224", depth=2, num_classes=10)
    values = {"patch_size": 32, "embed_dim": 192}
    cls = emitted_class(vit, tmp_path, "flax")
    assert_emitted_builds_as_spec(cls, vit.with_parameters(**values), **values)


def test_without_a_trace_the_keywords_found_without_one_remain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past MAX_TRACED layers, or where a traced lowering fails, the class takes only the
    keywords the probe finds (``codegen.knobs``): a refinement, never an error."""
    from archspec import compiler

    head = "head: pool=global_avgpool flatten=flatten fc=fc(classes)\n"
    long = archspec.loads(
        f"name: t\ninput: 3x8x8\nparams: {{classes: 10}}\nstem: conv(8, 3) relu x 30000\n{head}"
    )
    assert long.traced is None and [k.name for k in long.knobs()] == ["classes"]

    lower = compiler.lower_network

    def broken(*arguments: Any, **keywords: Any) -> Any:
        if keywords.get("tracing"):
            raise TypeError("a rule that cannot take a traced number")
        return lower(*arguments, **keywords)

    text = f"name: u\ninput: 3x8x8\nparams: {{classes: 10, w: 8}}\nstem: conv(w * 2, 3)\n{head}"
    plain = compiler.compile_text(text)
    monkeypatch.setattr(compiler, "lower_network", broken)
    assert plain.traced is None and [k.name for k in plain.knobs()] == ["classes"]


def test_a_local_takes_more_of_its_path_where_its_name_is_taken() -> None:
    from archspec.codegen.expressions import hint

    assert hint("features.transition1.conv", "out_channels") == (
        "transition1_conv_out_channels",
        "features_transition1_conv_out_channels",
    )
    # a name starts with a letter: ``3_branch2_0_...`` is skipped for the stage's name
    assert hint("stage2.3.branch2.0", "in_channels") == (
        "branch2_0_in_channels",
        "stage2_3_branch2_0_in_channels",
    )
    source = archspec.load("torchvision/regnet").source("torch")  # w0: every stage's width
    assert "        f_b_0_groups = f_a_0_out_channels // min(group_width, round(w0 * wm" in source
    assert "        block3_0_f_b_0_groups = block3_0_f_a_0_out_channels // part2\n" in source


def test_a_local_of_long_names_alone_is_put_in_parentheses(tmp_path: Path) -> None:
    """Only names and values left to split: the local is put in parentheses as ruff
    formats it (built and compared), not an internal error."""
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    a, b = "w" * 45, "v" * 45
    text = (
        f"name: t\ninput: 3x8x8\nparams: {{{a}: 8, {b}: 8}}\nstem: conv({a} + {b}, 3)\n"
        "head: pool=global_avgpool flatten=flatten fc=fc(10)\n"
    )
    arch = archspec.loads(text)
    assert {k.name for k in arch.knobs()} == {a, b}
    assert f"= (\n            {a} + {b}\n        )\n" in arch.source("torch")
    values = {a: 4, b: 12}
    cls = emitted_class(arch, tmp_path)
    assert_same_network(cls(**values), archspec.loads(text, **values).to_torch(), (3, 8, 8))


def test_a_width_one_larger_does_not_change_is_probed_at_twice_its_value(
    tmp_path: Path,
) -> None:
    """``conv(c // 2, 1)`` inside a block after 8 channels: at 16 and at 17 its width is
    the block's input width, and one class argument would stand for both (ShuffleNet-0.5x's
    ``c2``). Twice the value tells them apart: the network passes ``c // 2``."""
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    text = (
        "name: t\ninput: 3x8x8\nparams: {c: 16}\n"
        "define: |\n  block half(w) = conv(w // 2, 1) bn relu conv(8, 1)\n"
        "stem: conv(8, 3) g=half(c)\n"
        "head: pool=global_avgpool flatten=flatten fc=fc(10)\n"
    )
    arch = archspec.loads(text)
    assert {k.name for k in arch.knobs()} == {"c"}
    assert "PlainHalfBlock(8, 8, c // 2)" in arch.source("torch")
    cls = emitted_class(arch, tmp_path)
    for c in (10, 40):
        assert_same_network(cls(c=c), archspec.loads(text, c=c).to_torch(), (3, 8, 8))


@pytest.mark.parametrize("length", [12, 16, 19, 22])
def test_a_long_call_is_laid_out_as_ruff_keeps_it_at_88_and_100(
    length: int, tmp_path: Path
) -> None:
    """A local whose call does not fit: its arguments one a line, an argument too long for
    its line a local, split into parts until each line fits. A line of two names between
    88 and 100 columns has no layout ruff keeps at both widths, so a part is named short
    (``part1``) where its descriptive name would make one."""
    import subprocess
    import sys

    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    a, b = "a" * length, "b" * length
    text = (
        f"name: t\ninput: 3x8x8\nparams: {{{a}: 2, {b}: 3}}\n"
        f"stem: c=conv(max({a} * 3 + {b} * 5 + {a} * {b}, 8), 1)\n"
        "head: pool=global_avgpool flatten=flatten fc=fc(10)\n"
    )
    arch = archspec.loads(text)
    assert {k.name for k in arch.knobs()} == {a, b}
    path = tmp_path / "t_torch.py"
    path.write_text(arch.source("torch"))
    for config in (["--isolated"], ["--config", "pyproject.toml"]):
        command = [sys.executable, "-m", "ruff", "format", "--check", "--diff", *config, str(path)]
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    values = {a: 7, b: 1}
    cls = emitted_class(arch, tmp_path)
    assert_same_network(cls(**values), archspec.loads(text, **values).to_torch(), (3, 8, 8))


def test_shufflenet_takes_every_stage_width_odd_ones_too(tmp_path: Path) -> None:
    """A unit halves its input and joins the halves: at an odd width the stage carries
    ``2 * (c3 // 2)`` channels, not ``c3``. The halving, written out unit by unit, was
    130 characters; exactly simplified it is ``c3 // 2`` in every unit, and the class
    builds what the spec builds at odd and even widths."""
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    arch = archspec.load("torchvision/shufflenet_v2_x0_5", num_classes=10)
    assert {"c2", "c3", "c4", "c5"} <= {k.name for k in arch.knobs()}
    source = arch.source("torch")
    assert "2 * (c3 // 2)," in source and "// 2 + " not in source
    cls = emitted_class(arch, tmp_path)
    for values in ({"c3": 97}, {"c3": 64, "c2": 25}, {"c4": 51}):
        built = arch.with_parameters(**values).to_torch()
        assert_same_network(cls(**values), built, (3, 64, 64))


@pytest.mark.parametrize(
    ("block", "apart"),
    [
        # a 3x3 whose width is rounded, after a 1x1 whose width is not
        ("conv(round(c * 2), 1) bn relu conv(make_divisible(c * 2, 8), 3)", "conv3_out_channels"),
        # a depthwise convolution's groups, equal to its rounded channels
        (
            "conv(make_divisible(c * 2, 8), 1) bn relu conv(make_divisible(c * 2, 8), 3, "
            "groups=round(c * 2))",
            "conv3_groups",
        ),  # fmt: skip
    ],
)
def test_fields_equal_by_value_but_computed_apart_stay_apart_arguments(
    tmp_path: Path, block: str, apart: str
) -> None:
    """A block class gives fields with equal values in every instance one argument
    (``resolve``). Two fields can agree at every probe yet be computed differently: where
    the class computes them from a keyword, they stay two arguments and the keyword
    stays (it was refused while they were merged); without a keyword they are merged."""
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    from archspec.codegen.resolve import block_classes

    text = (
        "name: t\ninput: 3x32x32\nparams: {w: 1.0}\ndefine: |\n"
        f"  block b(c) = {block} bn relu conv(c, 1)\n"
        "stem: conv(round(32 * w), 3, stride=2) b(round(32 * w)) b(round(64 * w))\n"
        "head: pool=global_avgpool flatten=flatten fc=fc(10)\n"
    )
    arch = archspec.loads(text)
    assert [k.name for k in arch.knobs()] == ["w"]
    assert f"        {apart}: int" in arch.source("torch")
    merged = block_classes(arch.network, set())[id(ir.find(arch.network, "1"))]
    assert apart not in [variable.name for variable in merged.parameters]
    cls = emitted_class(arch, tmp_path)
    for w in (0.5, 0.75, 2.0):
        assert_same_network(cls(w=w), archspec.loads(text, w=w).to_torch(), (3, 32, 32))
