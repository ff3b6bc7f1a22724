"""Named members that a switch adds, to the network itself or to a group of named members:
``drop=dropout(p) if p > 0`` in a head. The class builds ``self.drop`` under the
condition (else None) and its forward applies it where it is built, as torchvision
writes optional modules; a group writes the item under the condition
(``*((("drop", nn.Dropout(p=p)),) if p > 0 else ())``) (``codegen/alignment.py``).
Every class is built at each combination of its switches and compared with the spec
compiled there; what the rule refuses would renumber or reshape the network."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

import archspec

SPEC = """\
name: t
input: 3x16x16
params: {{p: {p}, use_bn: {use_bn}, w: 8}}
stem: conv1=conv(w, 3) norm=bn if use_bn act=relu
head: pool=global_avgpool flatten=flatten drop=dropout(p) if p > 0 fc=fc(10)
"""


GROUPED = """\
name: t
input: 3x16x16
params: {{p: {p}, use_bn: {use_bn}, w: 8}}
stem: features=(conv1=conv(w, 3) norm=bn if use_bn act=relu)
head: pool=global_avgpool classifier=(flatten=flatten drop=dropout(p) if p > 0 fc=fc(10))
"""


WRITTEN = {  # how each spec's class writes its switched members
    SPEC: (
        "        if p > 0:\n            self.drop = nn.Dropout(p=p)\n",
        "        else:\n            self.norm = None\n",
        "        if self.drop is not None:\n            x = self.drop(x)\n",
    ),
    GROUPED: (
        '*((("drop", nn.Dropout(p=p)),) if p > 0 else ()),',
        '*((("norm", nn.BatchNorm2d(w)),) if use_bn else ()),',
    ),
}
WHERE = {SPEC: ("drop", "norm"), GROUPED: ("classifier.drop", "features.norm")}


@pytest.mark.parametrize("spec", [SPEC, GROUPED], ids=["network", "groups"])
@pytest.mark.parametrize(("p", "use_bn"), [("0.0", "false"), ("0.5", "true")])
def test_named_members_a_switch_adds(spec: str, p: str, use_bn: str, tmp_path: Path) -> None:
    """From the defaults without the members (the probe's, with their expressions) and
    with them (the network's own), the class builds the spec at every combination of
    the two switches beside the width, and loads its state_dict strictly (the keys,
    ``features.norm.weight``, the spec's at each)."""
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    text = spec.format(p=p, use_bn=use_bn)
    arch = archspec.loads(text)
    assert {k.name for k in arch.knobs()} == {"p", "use_bn", "w"}
    source = arch.source("torch")
    assert all(written in source for written in WRITTEN[spec])
    cls = emitted_class(arch, tmp_path)
    for rate, norm, width in itertools.product((0.0, 0.25), (False, True), (8, 12)):
        values = {"p": rate, "use_bn": norm, "w": width}
        built = archspec.loads(text, **values).to_torch()
        assert_same_network(cls(**values), built, (3, 16, 16))
        held = {name for name, _ in built.named_modules()}
        assert tuple(m in held for m in WHERE[spec]) == (rate > 0, norm)  # not vacuous


@pytest.mark.parametrize(
    ("spec", "written"),
    [
        (SPEC, "        if use_bn:\n"),
        (GROUPED, '**({"drop": nnx.Dropout(p, rngs=rngs)} if p > 0 else {}),'),
    ],
    ids=["network", "groups"],
)
def test_flax_builds_the_switched_members(spec: str, written: str, tmp_path: Path) -> None:
    pytest.importorskip("flax")
    from flax_helpers import assert_emitted_builds_as_spec
    from test_depth_knobs import emitted_class

    arch = archspec.loads(spec.format(p="0.5", use_bn="false"))
    assert written in arch.source("flax")
    cls = emitted_class(arch, tmp_path, "flax")
    for values in ({"p": 0.0, "use_bn": True, "w": 4}, {"p": 0.5, "use_bn": False}):
        assert_emitted_builds_as_spec(cls, arch.with_parameters(**values), **values)


WITH_GROUPS = """\
name: t
input: 3x16x16
params: {{s: {s}, w: 8, n: 2}}
stem: >-
  conv1=conv(w, 3) extra=(conv(w, 3) bn relu) if s act=relu
  f=(c=conv(8, 3) pre=((conv(8, 3) relu) x 2 bn) if s out=conv(8, 1))
head: pool=global_avgpool flatten=flatten fc=fc(10)
"""


@pytest.mark.parametrize("default", ["false", "true"])
def test_a_switch_adds_groups_that_compute_with_keywords(default: str, tmp_path: Path) -> None:
    """A group the network class builds is added whole, its layers written with the
    spec's expressions (``nn.Conv2d(w, w, ...)``) where the default lacks it; built
    at each value beside the width, in both frameworks."""
    pytest.importorskip("torch")
    pytest.importorskip("flax")
    from flax_helpers import assert_emitted_builds_as_spec
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    text = WITH_GROUPS.format(s=default)
    arch = archspec.loads(text)
    assert {"s", "w"} <= {k.name for k in arch.knobs()}
    source = arch.source("torch")
    assert "            self.extra = nn.Sequential(\n                nn.Conv2d(w, w," in source
    cls, flax_cls = emitted_class(arch, tmp_path), emitted_class(arch, tmp_path, "flax")
    for s, w in itertools.product((False, True), (8, 12)):
        built = archspec.loads(text, s=s, w=w)
        assert_same_network(cls(s=s, w=w), built.to_torch(), (3, 16, 16))
        assert_emitted_builds_as_spec(flax_cls, built, s=s, w=w)


def test_a_long_switched_item_is_laid_out_as_ruff_keeps_it(tmp_path: Path) -> None:
    """Too long for its line, an item splits as ruff splits a conditional, exploded so
    that the layout holds at 88 and at 100 columns, in both files."""
    name = "with_an_extra_normalisation_after_every_convolution"
    text = GROUPED.format(p="0.0", use_bn="false").replace("use_bn", name)
    arch = archspec.loads(text.replace("drop=dropout", "a_rather_long_dropout_name=dropout"))
    assert {k.name for k in arch.knobs()} == {"p", name, "w"}
    pyproject = str(Path(__file__).resolve().parent.parent / "pyproject.toml")
    for backend in ("torch", "flax"):
        path = tmp_path / f"long_{backend}.py"
        source = arch.source(backend)
        path.write_text(source)
        assert f"                    if {name}\n" in source
        for config in (["--isolated"], ["--config", pyproject]):
            command = [sys.executable, "-m", "ruff", "format", "--check", "--diff", *config]
            result = subprocess.run([*command, str(path)], capture_output=True, text=True)
            assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("stem", "relu"),
    [
        ("norm=bn if s act=relu conv1=conv(8, 3)", "act"),
        ("f=(norm=bn if s act=relu) c=conv(8, 3)", "f.act"),
    ],
)
def test_a_relu_after_an_optional_member_works_in_place_only_where_both_allow(
    stem: str, relu: str, tmp_path: Path
) -> None:
    """After the batch norm the spec's ReLU works in place; without it the ReLU would
    meet the caller's tensor, so the class's must not overwrite it at either value."""
    torch = pytest.importorskip("torch")
    from test_depth_knobs import emitted_class

    text = (
        f"name: t\ninput: 3x8x8\nparams: {{s: true}}\nstem: {stem}\n"
        "head: pool=global_avgpool flatten=flatten fc=fc(10)\n"
    )
    arch = archspec.loads(text)
    assert arch.to_torch().get_submodule(relu).inplace  # the network alone would
    assert "s" in {k.name for k in arch.knobs()}
    cls = emitted_class(arch, tmp_path)
    x = torch.randn(2, 3, 8, 8)
    kept = x.clone()
    cls(s=False).eval()(x)
    assert torch.equal(x, kept)


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("conv1=conv(8, 3) norm=bn if s act=relu", True),
        ("conv(8, 3) bn if s relu", False),  # unnamed: the ReLU would be renumbered
        ("conv1=conv(8, 3) pool=maxpool(2) if s act=relu", False),  # changes the shape
        ("conv1=conv(8, 3) extra=(conv(8, 3) relu) if s", True),  # a group
        ("conv1=conv(8, 3) extra=vgg_block(8, 1) if s", False),  # a block class's instance
        ("conv1=conv(8, 3) relu1=relu if s act=relu", True),
        ("f=(conv1=conv(8, 3) norm=bn if s act=relu)", True),
        ("f=(conv1=conv(8, 3) (bn if s) act=relu)", False),  # numbered apart
        # a norm that starts at zero is zeroed by path: switched, or renumbered, it is not
        ("conv1=conv(8, 3) norm=bn(zero_init=true) if s act=relu", False),
        ("g=(conv(8, 3) bn if s relu bn(zero_init=true))", False),
        ("conv1=conv(8, 3) norm=bn if s act=relu g=(conv(8, 3) bn(zero_init=true))", True),
        ('f=(u=(conv(8, 3) relu) x 2 as "unit{i}" norm=bn if s)', True),  # beside copies
        ("f=(conv1=conv(8, 3) (conv(8, 3) relu) x 2 norm=bn if s)", True),  # numbered beside
    ],
)
def test_a_network_member_is_switched_only_where_nothing_else_moves(
    stem: str, expected: bool, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    text = (
        "name: t\ninput: 3x16x16\nparams: {s: false}\n"
        f"stem: {stem}\nhead: pool=global_avgpool flatten=flatten fc=fc(10)\n"
    )
    assert ("s" in {k.name for k in archspec.loads(text).knobs()}) is expected
    if expected:
        cls = emitted_class(archspec.loads(text), tmp_path)
        for value in (False, True):
            built = archspec.loads(text, s=value).to_torch()
            assert_same_network(cls(s=value), built, (3, 16, 16))
