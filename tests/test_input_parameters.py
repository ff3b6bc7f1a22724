"""An input size taken from a parameter (``input: in_channels x 224x224``): ``-D``,
``to_torch(in_channels=1)`` and the emitted class's keyword all give the network the
spec gives with that value."""

from __future__ import annotations

import glob
import re
from pathlib import Path

import pytest

import archspec
from archspec.diagnostics import SpecError

YAML = """\
name: gray
input: in_channels x 16x16
params: {in_channels: 3, num_classes: 10}
stem: conv1=conv(8, 3) bn1=bn relu=relu
stages:
  layer1: basic(8) x 1
head: pool=global_avgpool flatten=flatten fc=fc(num_classes)
"""
ARCH = """\
network gray
input in_channels x 16 x 16
param in_channels = 3, num_classes = 10
stem conv1=conv(8, 3) bn1=bn relu=relu
stage layer1 = basic(8) x 1
head pool=global_avgpool flatten=flatten fc=fc(num_classes)
"""
CLASS_STEM = """\
name: classy
input: in_channels x 16x16
params: {in_channels: 3, num_classes: 10}
define: |
  block cbr(c, k=3, stride=1) = conv(c, k, stride=stride) bn relu
stem: stem=cbr(8, stride=2) body=cbr(8) tail=cbr(16, 1)
head: pool=global_avgpool flatten=flatten fc=fc(num_classes)
"""


@pytest.mark.parametrize("text", [YAML, ARCH], ids=["yaml", "arch"])
def test_the_input_takes_its_channels_from_a_parameter(text: str) -> None:
    three, one = archspec.loads(text), archspec.loads(text, in_channels=1)
    assert three.network.input == (3, 16, 16) and one.network.input == (1, 16, 16)
    assert three.counts.params - one.counts.params == 2 * 8 * 3 * 3  # the stem's weights
    assert [k.name for k in three.knobs()] == ["in_channels", "num_classes"]


def test_each_size_may_be_a_parameter_and_the_input_option_still_wins() -> None:
    text = YAML.replace("in_channels x 16x16", "c x side x side").replace(
        "params: {", "params: {c: 2, side: 12, "
    )
    assert archspec.loads(text).network.input == (2, 12, 12)
    assert archspec.loads(text, side=20).network.input == (2, 20, 20)
    assert archspec.loads(text, input="4x8x8").network.input == (4, 8, 8)


@pytest.mark.parametrize(
    ("shape", "code"),
    [
        ("in_channelsx16x16", "E100"),  # a name must stand apart from its x
        ("in_channels x 16", "E204"),  # two sizes
        ("in_channels x 16x16x16", "E204"),
        ("channels x 16x16", "E304"),
        ("num_classes x 16x16", None),  # any whole-number parameter may be a size
    ],
)
def test_input_shapes_with_names_are_checked(shape: str, code: str | None) -> None:
    text = YAML.replace("in_channels x 16x16", shape)
    if code is None:
        assert archspec.loads(text).network.input == (10, 16, 16)
        return
    with pytest.raises(SpecError) as error:
        archspec.loads(text)
    assert [d.code for d in error.value.diagnostics] == [code]


def test_an_input_size_out_of_range_by_its_parameter_is_refused() -> None:
    with pytest.raises(SpecError, match="E313|out of range"):
        archspec.loads(YAML, in_channels=0)


def test_every_shipped_spec_declares_its_input_channels() -> None:
    specs = sorted(glob.glob("specs/**/*.yaml", recursive=True) + glob.glob("specs/**/*.arch"))
    assert len(specs) > 70
    for path in specs:
        arch = archspec.load(path)
        assert arch.arguments.get("in_channels") == 3, path
        assert archspec.load(path, in_channels=1).network.input[0] == 1, path


def test_emitted_torch_class_takes_in_channels(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from torch_helpers import import_file

    arch = archspec.loads(YAML)
    path = tmp_path / "gray_torch.py"
    path.write_text(arch.source("torch"))
    torch.manual_seed(0)
    emitted = import_file(path).Gray(in_channels=1, num_classes=4).eval()
    built = arch.to_torch(in_channels=1, num_classes=4).eval()
    built.load_state_dict(emitted.state_dict(), strict=True)
    x = torch.randn(2, 1, 16, 16)
    assert torch.equal(emitted(x), built(x)) and emitted(x).shape == (2, 4)


@pytest.mark.parametrize("text", [YAML, CLASS_STEM], ids=["own-stem", "class-stem"])
def test_emitted_flax_class_takes_in_channels(text: str, tmp_path: Path) -> None:
    pytest.importorskip("flax")
    from flax_helpers import output_shapes

    shapes = output_shapes(archspec.loads(text), tmp_path, (2, 16, 16, 5), in_channels=5)
    assert shapes == ((2, 10), (2, 10))


def test_shipped_resnet50_takes_in_channels_as_timm_takes_in_chans() -> None:
    source = archspec.load("resnet50").source("torch")
    assert "in_channels: int = 3" in source
    assert re.search(r"self\.conv1 = nn\.Conv2d\(\s*in_channels,\s*64,", source)


def test_a_stem_that_is_a_block_class_takes_in_channels_too(tmp_path: Path) -> None:
    """The class is the same code at any channel count: only its call takes the keyword
    (``PlainCbrBlock(in_channels, 8, stride=2)``), as MobileNet's and EfficientNet's do."""
    torch = pytest.importorskip("torch")
    from torch_helpers import import_file

    arch = archspec.loads(CLASS_STEM)
    assert [k.name for k in arch.knobs()] == ["in_channels", "num_classes"]
    source = arch.source("torch")
    assert re.search(r"\(in_channels, 8, stride=2\)", source)
    path = tmp_path / "classy_torch.py"
    path.write_text(source)
    emitted = import_file(path).Classy(in_channels=5).eval()
    built = arch.to_torch(in_channels=5).eval()
    built.load_state_dict(emitted.state_dict(), strict=True)
    x = torch.randn(2, 5, 16, 16)
    assert torch.equal(emitted(x), built(x))
    # passed whole to a block that reads it whole, the keyword is that class's argument
    # too (the tail's channels and the classifier's inputs); computed on, the class is
    # passed what the spec computes
    whole = CLASS_STEM.replace("tail=cbr(16, 1)", "tail=cbr(in_channels, 1)")
    arch = archspec.loads(whole)
    assert [k.name for k in arch.knobs()] == ["in_channels", "num_classes"]
    path.write_text(arch.source("torch"))
    emitted = import_file(path, "classy_whole").Classy(in_channels=5).eval()
    built = arch.to_torch(in_channels=5).eval()
    built.load_state_dict(emitted.state_dict(), strict=True)
    assert torch.equal(emitted(x), built(x)) and emitted.fc.in_features == 5
    doubled = archspec.loads(CLASS_STEM.replace("tail=cbr(16, 1)", "tail=cbr(in_channels * 2, 1)"))
    assert [k.name for k in doubled.knobs()] == ["in_channels", "num_classes"]
    path.write_text(doubled.source("torch"))
    assert "in_channels * 2" in path.read_text()
    emitted = import_file(path, "classy_doubled").Classy(in_channels=5).eval()
    built = doubled.to_torch(in_channels=5).eval()
    built.load_state_dict(emitted.state_dict(), strict=True)
    assert torch.equal(emitted(x), built(x)) and emitted.fc.in_features == 10


@pytest.mark.parametrize("name", ["torchvision/mobilenet_v2", "torchvision/efficientnet_b0"])
def test_shipped_class_stems_take_in_channels(name: str) -> None:
    assert "in_channels" in [k.name for k in archspec.load(name).knobs()]
