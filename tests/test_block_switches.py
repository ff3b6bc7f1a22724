"""A truth value that adds members inside a block, as a keyword: timm's ``resnet50`` and
``seresnet50`` are one class, ``ResNet50(se=True)`` (``archspec.codegen.optional``).
Every class is built at both values, beside another keyword changed, and compared with
the spec compiled there; what the rule refuses is a block the class could not write."""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec

BLOCKY = """\
name: blocky
input: 3x8x8
params: {s: false, n: 2}
define: |
  # the dropout hands its input on: without the batch norm the ReLU must not work in place
  block c(w, t=false) = drop=dropout(0.0) extra=bn if t act=relu + identity
stem: conv(8, 3) g=c(8, t=s) x n
head: global_avgpool flatten fc(10)
"""


def keywords(text: str) -> set[str]:
    return {k.name for k in archspec.loads(text).knobs()}


def test_timm_resnet50_and_seresnet50_are_one_class(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    from test_depth_knobs import emitted_class

    x = torch.randn(1, 3, 64, 64)
    sources = [archspec.load(spec).source("torch") for spec in ("timm/resnet50", "timm/seresnet50")]
    se = [
        text[text.index("class SeBlock") : text.index("class TimmBottleneck")] for text in sources
    ]
    assert se[0] == se[1]  # written alike (its ReLU in place) where the default leaves it out
    for spec, default in (("timm/resnet50", False), ("timm/seresnet50", True)):
        arch = archspec.load(spec)
        source = arch.source("torch")
        assert f"se: bool = {default}," in source and "attn=se," in source
        assert "        if attn:\n            self.se = SeBlock(" in source
        assert "        if self.se is not None:\n            out = self.se(out)\n" in source
        cls = emitted_class(arch, tmp_path)
        for reference, se in (("resnet50", False), ("seresnet50", True)):
            model = timm.create_model(reference, pretrained=False).eval()
            emitted = cls(se=se).eval()
            emitted.load_state_dict(model.state_dict(), strict=True)
            with torch.no_grad():
                assert torch.equal(emitted(x), model(x))


@pytest.mark.parametrize("default", [False, True])
@pytest.mark.parametrize("values", [{"s": True}, {"s": False}, {"s": True, "n": 3}, {"n": 1}])
def test_emitted_block_switch_builds_what_the_spec_builds(
    default: bool, values: dict[str, object], tmp_path: Path
) -> None:
    torch = pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    text = BLOCKY.replace("s: false", f"s: {str(default).lower()}")
    arch = archspec.loads(text)
    assert keywords(text) == {"s", "n"}
    source = arch.source("torch")
    assert "self.act = nn.ReLU()\n" in source  # not in place: at t false it reads x
    cls = emitted_class(arch, tmp_path)
    spec = archspec.loads(text, **values)
    assert_same_network(cls(**values), spec.to_torch(), spec.network.input)
    model = cls(**values).eval()  # TorchScript takes a member that may be None
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(torch.jit.script(model)(x), model(x))


def test_flax_emitted_block_switch_builds_what_the_spec_builds(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("flax")
    from flax_helpers import assert_emitted_builds_as_spec
    from test_depth_knobs import emitted_class

    cls = emitted_class(archspec.loads(BLOCKY), tmp_path, "flax")
    for values in ({"s": True, "n": 3}, {"s": False}):
        assert_emitted_builds_as_spec(cls, archspec.loads(BLOCKY, **values), **values)


@pytest.mark.parametrize(
    "block",
    [
        "extra=bn if t drop=dropout(0.0) act=relu",  # first of its chain: reads the input
        "drop=dropout(0.0) bn if t act=relu",  # unnamed: it would renumber the others
        "drop=dropout(0.0) extra=conv(16, 1) if t act=relu",  # changes the shape
        "drop=dropout(0.0 if t else 0.5) extra=bn if t act=relu",  # changes more
    ],
)
def test_a_block_the_class_cannot_write_under_one_condition_keeps_the_value(block: str) -> None:
    text = BLOCKY.replace("drop=dropout(0.0) extra=bn if t act=relu + identity", block)
    assert keywords(text) == {"n"}


def test_a_block_switch_beside_a_keyword_the_block_reads_keeps_the_value() -> None:
    """Another keyword read inside the instances: the class would need its expressions
    in fields that exist at one value only."""
    text = BLOCKY.replace("{s: false, n: 2}", "{s: false, n: 2, w: 8}")
    text = text.replace("conv(8, 3) g=c(8, t=s)", "conv(w, 3) g=c(w, t=s)")
    assert keywords(text) == {"n", "w"}


BRANCHED = """\
name: branched
input: 3x8x8
params: {s: false, n: 2}
define: |
  block inner(c) = conv(c, 1) bn
  block c(t=false) =
      concat(a=conv(8, 1) extra=bn if t, b=conv(8, 1) deep=inner(8) if t)
      act=relu out=conv(8, 1)
stem: conv(8, 3) g=c(t=s) x n
head: global_avgpool flatten fc(10)
"""


def test_members_added_in_branches_and_as_nested_blocks(tmp_path: Path) -> None:
    """Added in each branch of a concatenation, one a block of its own: both backends.
    Unnamed, the last convolution would be numbered apart at the two values (its
    state_dict key), and the truth value would stay a build-time value."""
    pytest.importorskip("torch")
    pytest.importorskip("flax")
    from flax_helpers import assert_emitted_builds_as_spec
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    assert keywords(BRANCHED) == {"s", "n"}
    assert keywords(BRANCHED.replace("out=conv(8, 1)", "conv(8, 1)")) == {"n"}
    source = archspec.loads(BRANCHED).source("torch")
    assert "        if self.deep is not None:\n            b = self.deep(b)\n" in source
    torch_class = emitted_class(archspec.loads(BRANCHED), tmp_path)
    flax_class = emitted_class(archspec.loads(BRANCHED), tmp_path, "flax")
    for values in ({"s": True}, {"s": True, "n": 3}, {"s": False}):
        spec = archspec.loads(BRANCHED, **values)
        assert_same_network(torch_class(**values), spec.to_torch(), spec.network.input)
        assert_emitted_builds_as_spec(flax_class, spec, **values)
