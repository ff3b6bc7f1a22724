"""Truth-value parameters that add layers to the network's own sequences, as keywords.

VGG's ``bn if batch_norm``: ``VGG11(batch_norm=True)`` is torchvision's vgg11_bn, and
``VGG11BN(batch_norm=False)`` its vgg11 (``codegen/switches.py``). Every class is
built and compared with the spec compiled at the same values; what the rule refuses is
shown to be a network the file could not build at both values.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import archspec

CUSTOM = (  # a group after a name is its arguments: `relu (conv ...)` is not two items
    "name: t\ninput: 3x16x16\nparams: {{s: false, n: 2, w: 8}}\n"
    "stem: features=({body})\n"
    "head: pool=global_avgpool flatten=flatten fc=fc(10)\n"
)


def keywords(text: str) -> set[str]:
    return {k.name for k in archspec.loads(text).knobs()}


@pytest.mark.parametrize(
    ("spec", "default", "reference", "values"),
    [
        ("vgg11", False, "vgg11_bn", {"batch_norm": True, "n1": 3, "n5": 1}),
        ("torchvision/vgg11_bn", True, "vgg11", {"batch_norm": False, "n3": 1, "n4": 3}),
    ],
)
def test_vgg_takes_batch_norm_as_torchvision_does(
    spec: str, default: bool, reference: str, values: dict[str, object], tmp_path: Path
) -> None:
    """One class for vgg11 and vgg11_bn: the batch norms written where they stand (the
    probe's where the spec's default is false, the network's own where it is true), so
    torchvision's numbering (features.1 a batch norm, features.2 a ReLU) holds at both
    values and the other one's state_dict loads strictly. The other values are checked
    on small specs below (VGG's classifier alone has 120M parameters)."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    arch = archspec.load(spec, num_classes=10)
    source = arch.source("torch")
    assert f"batch_norm: bool = {default}," in source
    assert "            *((nn.BatchNorm2d(128),) if batch_norm else ()),\n" in source
    cls = emitted_class(arch, tmp_path)
    weights = getattr(torchvision.models, reference)(num_classes=10).state_dict()
    cls(batch_norm=not default, num_classes=10).load_state_dict(weights, strict=True)
    built = arch.with_parameters(**values).to_torch()
    assert_same_network(cls(**values), built, (3, 32, 32))
    kinds = [type(m) for m in built.modules()]
    norms = kinds.count(torch.nn.Conv2d) if values["batch_norm"] else 0
    assert kinds.count(torch.nn.BatchNorm2d) == norms  # the switch is not vacuous


def test_flax_writes_the_same_switch(tmp_path: Path) -> None:
    """The Flax file carries the batch norm's runtime class even where the network it
    was built for holds none (vgg11), and builds what the spec builds with the switch
    flipped: an added layer that computes on a keyword, and added layers in copies."""
    pytest.importorskip("flax")
    from flax_helpers import assert_emitted_builds_as_spec
    from test_depth_knobs import emitted_class

    vgg = archspec.load("vgg11").source("flax")
    assert "class BatchNorm2d(nnx.Module):" in vgg
    assert "            *((BatchNorm2d(64),) if batch_norm else ()),\n" in vgg
    body = "(conv(w * 2, 3) bn(eps=0.001) if s relu) (conv(8, 1) bn if s relu) x n"
    arch = archspec.loads(CUSTOM.format(body=body))
    assert {"s", "w", "n"} <= {k.name for k in arch.knobs()}
    cls = emitted_class(arch, tmp_path, "flax")
    assert "*((BatchNorm2d(w * 2, eps=0.001),) if s else ())," in arch.source("flax")
    values = {"s": True, "w": 12, "n": 3}
    assert_emitted_builds_as_spec(cls, arch.with_parameters(**values), **values)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("(conv(8, 3) bn if s relu) (conv(8, 3) bn if s relu) x n", True),  # in copies
        ("conv(8, 3) relu b=(conv(8, 3) bn if s) c=((conv(8, 3) relu) x n)", True),  # nested
        ("(conv(8, 3) relu) (conv(8, 3) relu dropout(0.5) if s) x n conv(8, 1)", False),
        ("(conv(8, 3) relu dropout(0.5) if s) (conv(8, 3) relu) x n", False),  # a seam too
        ("conv(w, 3) relu bn if s conv(8, 1)", True),  # the norm's width: written w
        ("conv(w * 2, 3) relu bn(eps=0.001) if s conv(8, 1)", True),  # w * 2
        ("(conv(w, 3) relu bn if s) x n", False),  # reads a keyword in counted copies
        ("conv(16 if s else 8, 3) relu", False),  # a width, not a layer
        ("conv(w, 3) relu b=(c=conv(8, 3) norm=bn if s)", True),  # a named item
    ],
)
def test_a_switch_is_a_keyword_only_where_the_file_builds_both_values(
    body: str, expected: bool, tmp_path: Path
) -> None:
    """Where the rule takes ``s``, the class is built with it flipped, alone and beside
    each other keyword, and compared; where it refuses, the reason is one the docstring
    of codegen/switches.py gives (a dropout at a seam: is it a copy's? with n=1, unseen)."""
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    text = CUSTOM.format(body=body)
    found = keywords(text)
    assert ("s" in found) is expected
    if expected:
        assert len(found) > 1  # with a depth or a width beside it
        cls = emitted_class(archspec.loads(text), tmp_path)
        others = {"n": 4, "w": 12}
        cases = [{"s": True}] + [{"s": True, k: others[k]} for k in sorted(found - {"s"})]
        for values in [*cases, {"s": False, **{k: others[k] for k in found - {"s"}}}]:
            built = archspec.loads(text, **values).to_torch()
            assert_same_network(cls(**values), built, (3, 16, 16))


def test_a_long_switch_is_laid_out_as_ruff_keeps_it_at_88_and_100(tmp_path: Path) -> None:
    """Too long for its line, a switched layer splits as ruff splits a conditional, its
    call exploded so that a magic trailing comma keeps the layout at both widths."""
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    name = "with_an_extra_normalisation_after_every_convolution"
    text = CUSTOM.replace("{s: false", "{" + name + ": false").format(
        body=f"(conv(8, 3) bn(eps=0.001, momentum=0.01) if {name} relu) x n"
    )
    arch = archspec.loads(text)
    assert name in {k.name for k in arch.knobs()}
    path = tmp_path / "long_torch.py"
    source = arch.source("torch")
    path.write_text(source)
    assert f"                        if {name}\n" in source
    pyproject = str(Path(__file__).resolve().parent.parent / "pyproject.toml")
    for config in (["--isolated"], ["--config", pyproject]):
        command = [sys.executable, "-m", "ruff", "format", "--check", "--diff", *config]
        result = subprocess.run([*command, str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    cls = emitted_class(arch, tmp_path)
    for values in ({name: True}, {name: True, "n": 3}):
        built = archspec.loads(text, **values).to_torch()
        assert_same_network(cls(**values), built, (3, 16, 16))
