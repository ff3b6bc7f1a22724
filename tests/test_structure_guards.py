"""Keywords whose structure a comparison chose: the emitted class checks it.

Where lowering compares a traced number (option ``same``'s residual where two widths
agree, a condition ``if e != in_channels``), the comparison that held is recorded
(``symbolic.Trace.guards``). Wherever every guard holds, lowering takes the same path, so
the parameter may be a keyword; the constructor checks each guard
(``check_structure``) and refuses a value where the spec builds another network.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec
from archspec import ir

SPEC = (
    "name: guarded\ninput: 3x16x16\nshortcut: same\nparams: {w: 16, classes: 10}\n"
    "define: |\n"
    "  block unit(c) = conv(c, 3) bn relu conv(c, 3) bn + shortcut -> relu\n"
    "stem: conv(make_divisible(w, 8), 3) bn relu\n"
    "head: >-\n"
    "  unit(make_divisible(2 * w, 8)) pool=global_avgpool flatten=flatten\n"
    "  hidden=fc(ceil(w * 1.5)) relu fc(classes)\n"
)
"""The unit adds its input where make_divisible(w, 8) == make_divisible(2 * w, 8): at
w=16 they differ (16, 32), at w=2 both are 8 and the spec adds a residual."""


def residual_units(arch: archspec.Architecture) -> int:
    return sum(
        1
        for place in ir.walk(arch.network)
        if isinstance(place.node, ir.Group)
        and any(isinstance(step, ir.Parallel) for step in place.node.flow.steps)
    )


def test_the_class_computes_with_a_guarded_width_and_refuses_another_structure(
    tmp_path: Path,
) -> None:
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    arch = archspec.loads(SPEC)
    assert {k.name for k in arch.knobs()} == {"w", "classes"}
    source = arch.source("torch")
    guard = "make_divisible(w, 8) != make_divisible(2 * w, 8)"
    assert f"check_structure({guard}, w=w)\n" in source
    assert "import math\n" in source and "math.ceil(w * 1.5)" in source
    assert "\ndef make_divisible(" in source  # copied from lower.functions
    cls = emitted_class(arch, tmp_path)
    for w in (24, 40, 9):
        assert_same_network(cls(w=w), archspec.loads(SPEC, w=w).to_torch(), (3, 16, 16))
    # at w=2 the spec adds a residual that this class does not have: refused, not wrong
    assert residual_units(archspec.loads(SPEC, w=2)) == 1 and residual_units(arch) == 0
    with pytest.raises(ValueError, match=r"w=2 changes the network's structure"):
        cls(w=2)


def test_flax_checks_the_same_guards(tmp_path: Path) -> None:
    pytest.importorskip("flax")
    from flax import nnx
    from flax_helpers import assert_emitted_builds_as_spec
    from test_depth_knobs import emitted_class

    arch = archspec.loads(SPEC)
    cls = emitted_class(arch, tmp_path, "flax")
    assert "check_structure(" in (tmp_path / "guarded_flax.py").read_text()
    assert_emitted_builds_as_spec(cls, archspec.loads(SPEC, w=24), w=24)
    with pytest.raises(ValueError, match=r"w=2 changes"):
        cls(w=2, rngs=nnx.Rngs(0))


def test_mobilenet_v2_takes_width_mult_as_torchvision_does(tmp_path: Path) -> None:
    """torchvision's ``MobileNetV2(width_mult=...)``: a residual where a block keeps its
    shape, widths through ``_make_divisible``. At 0.1 two stage widths round to the same
    8 channels, torchvision adds a residual there, and the class refuses the value."""
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    arch = archspec.load("torchvision/mobilenet_v2", num_classes=10)
    assert "width_mult" in {k.name for k in arch.knobs()}
    cls = emitted_class(arch, tmp_path)
    for width_mult in (0.5, 0.75):
        built = arch.with_parameters(width_mult=width_mult).to_torch()
        assert_same_network(cls(width_mult=width_mult), built, arch.network.input)
    assert residual_units(arch.with_parameters(width_mult=0.1)) > residual_units(arch)
    with pytest.raises(ValueError, match=r"width_mult=0.1 changes"):
        cls(width_mult=0.1)


def test_shortcut_modules_the_network_class_builds_take_the_keyword(tmp_path: Path) -> None:
    """ResNet-D's projections are built by the network class and passed in
    (``downsample=nn.Sequential(...)``): a width keyword writes their channels too; the
    projection itself was chosen by ``width != width * 4``, checked as ``width != 0``
    (for whole numbers, ``a * x != b * x`` with a and b distinct is exactly that)."""
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    arch = archspec.load("specs/arch/resnet_d.arch", num_classes=10)
    assert "width" in {k.name for k in arch.knobs()}
    source = arch.source("torch")
    assert "nn.Conv2d(width, width * 4, kernel_size=1, bias=False)" in source
    assert "check_structure(width != 0, width=width)" in source
    cls = emitted_class(arch, tmp_path)
    built = arch.with_parameters(width=16).to_torch()
    assert_same_network(cls(width=16), built, arch.network.input)


def test_a_plain_float_on_the_left_is_traced_too(tmp_path: Path) -> None:
    """``2.5 < w`` and ``0.5 * w`` are float's methods, which would see only a number:
    the spec's evaluation records the comparison and keeps the expression."""
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    text = (
        "name: t\ninput: 3x8x8\nparams: {w: 8}\n"
        "stem: conv(w, 3) bn if 2.5 < w conv(int(0.5 * w), 1)\n"
        "head: pool=global_avgpool flatten=flatten fc=fc(10)\n"
    )
    arch = archspec.loads(text)
    source = arch.source("torch")
    assert "check_structure(2.5 < w, w=w)" in source
    assert "nn.Conv2d(w, int(0.5 * w), kernel_size=1, bias=False)" in source
    cls = emitted_class(arch, tmp_path)
    assert_same_network(cls(w=6), archspec.loads(text, w=6).to_torch(), (3, 8, 8))
    with pytest.raises(ValueError, match="w=2 changes"):
        cls(w=2)
