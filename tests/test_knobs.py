"""Spec parameters as keywords: the emitted class (``ResNet20(num_classes=7)``),
``to_torch(...)`` and ``to_flax(...)`` give the network the spec gives with that value."""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec

HEAD = "head: pool=global_avgpool flatten=flatten fc=fc(classes)\n"


def knob_names(text: str) -> list[str]:
    return [k.name for k in archspec.loads(text).knobs()]


def test_only_parameters_that_set_network_level_arguments_are_knobs() -> None:
    spec = "name: t\ninput: 3x8x8\nparams: {classes: 10, width: 8, n: 2, twice: 4, flag: true}\n"
    stem = "stem: conv(width, 3) conv(twice * 2, 3)\nstages:\n  s: basic(width) x n\n"
    # classes sets fc's out_features; width also reaches the block class basic, n is a
    # stage depth (tests/test_depth_knobs.py), twice is doubled, flag is no number
    assert knob_names(spec + stem + HEAD) == ["classes", "n"]
    # a width used only by the network's own layers is a knob, in every place it sets
    own = "stem: conv(width, 3) bn relu conv(width, 1)\n"
    assert knob_names(spec + own + HEAD) == ["classes", "width"]


def test_a_knob_named_like_the_emitted_code_is_left_out() -> None:
    spec = "name: t\ninput: 3x8x8\nparams: {nn: 10}\nstem: conv(8, 3)\n"
    arch = archspec.loads(spec + HEAD.replace("classes", "nn"))
    assert [k.name for k in arch.knobs()] == ["nn"]
    assert "nn: int" not in arch.source("torch")  # it would hide the torch.nn module


def test_any_parameter_name_can_be_set_from_the_api() -> None:
    # `input` names the input size in the language, so no parameter takes it
    text = "name: t\ninput: 3x8x8\nparams: {spec: 4, text: 6}\n"
    text += "stem: conv(spec, 3) conv(text, 1)\n" + HEAD.replace("classes", "2")
    assert archspec.loads(text, spec=7, text=8).arguments == {"spec": 7, "text": 8}
    assert archspec.loads(text, input="3x16x16", spec=5).network.input == (3, 16, 16)


def test_emitted_class_takes_num_classes_as_to_torch_does(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from torch_helpers import import_file

    arch = archspec.load("cifar/resnet20")
    source = arch.source("torch")
    keywords = "*, n: int = 3, num_classes: int = 10, in_channels: int = 3,"
    assert keywords in " ".join(source.split())  # one per line, as ruff formats them
    assert "nn.Linear(64, num_classes)" in source
    path = tmp_path / "resnet20_torch.py"
    path.write_text(source)
    cls = import_file(path).ResNet20
    torch.manual_seed(0)
    emitted = cls(num_classes=7).eval()
    torch.manual_seed(0)
    built = arch.to_torch(num_classes=7).eval()
    assert list(emitted.state_dict()) == list(built.state_dict())
    assert all(torch.equal(t, built.state_dict()[k]) for k, t in emitted.state_dict().items())
    x = torch.randn(2, 3, 32, 32)
    assert emitted(x).shape == (2, 7) and torch.equal(emitted(x), built(x))
    assert cls()(x).shape == (2, 10)  # the spec's default
    with pytest.raises(archspec.SpecError, match="no parameter 'classes'"):
        arch.to_torch(classes=7)


def test_flax_emitted_class_and_to_flax_take_num_classes(tmp_path: Path) -> None:
    pytest.importorskip("flax")
    from flax_helpers import output_shapes

    arch = archspec.load("cifar/resnet20")
    assert output_shapes(arch, tmp_path, (2, 32, 32, 3), num_classes=7) == ((2, 7), (2, 7))


def test_a_parameter_computed_on_is_written_as_its_expression_not_probed() -> None:
    # fc(max(classes, 2)) is fc(classes) at 10 and at 11, not at 1: a probe alone would
    # take it for fc(classes); the traced lowering writes what the spec computes
    spec = "name: t\ninput: 3x8x8\nparams: {classes: 10, width: 8}\nstem: conv(width, 3)\n"
    assert knob_names(spec + HEAD) == ["classes", "width"]
    for computed, written in (("max(classes, 2)", "max(classes, 2)"), ("classes + 0", "classes")):
        arch = archspec.loads(spec + HEAD.replace("fc(classes)", f"fc({computed})"))
        assert [k.name for k in arch.knobs()] == ["classes", "width"]
        assert f"nn.Linear(width, {written})" in arch.source("torch")
    # a condition chose the branch: the class checks that it holds (codegen.formulas)
    chosen = HEAD.replace("fc(classes)", "fc(classes if classes > 1 else 2)")
    assert knob_names(spec + chosen) == ["classes", "width"]
    source = archspec.loads(spec + chosen).source("torch")
    assert "check_structure(classes > 1, classes=classes)" in source
    assert "nn.Linear(width, classes)" in source
    # one that is pinned (a count) is none
    assert knob_names(spec + HEAD.replace("fc(classes)", "fc(10) relu x classes")) == ["width"]
    # read by a `let` that nothing uses: what it computes sets no field
    assert knob_names(spec + "let: {w: classes // 100}\n" + HEAD) == ["classes", "width"]


def test_rates_and_switches_are_keywords_too(tmp_path: Path) -> None:
    """A float (halved by the probe) or a bool (negated) read as a whole argument of the
    network's own layers: ``Net(p=0.5, bias=False)`` is ``to_torch(p=0.5, bias=False)``."""
    pytest.importorskip("torch")
    from torch_helpers import import_file

    spec = "name: t\ninput: 3x8x8\nparams: {p: 0.2, bias: true, label: x}\nstem: conv(8, 3)\n"
    head = "head: pool=global_avgpool flatten=flatten drop=dropout(p) fc=fc(10, bias=bias)\n"
    arch = archspec.loads(spec + head)
    assert [(k.name, k.default) for k in arch.knobs()] == [("p", 0.2), ("bias", True)]
    source = arch.source("torch")
    assert "p: float = 0.2, bias: bool = True" in source
    path = tmp_path / "t_torch.py"
    path.write_text(source)
    emitted = import_file(path).T(p=0.5, bias=False)
    built = arch.to_torch(p=0.5, bias=False)
    assert list(emitted.state_dict()) == list(built.state_dict())
    assert "fc.bias" not in emitted.state_dict() and emitted.drop.p == built.drop.p == 0.5
    # computed on, a rate is a keyword written as the spec computes it
    halved = archspec.loads(spec + head.replace("dropout(p)", "dropout(p / 2)"))
    assert [k.name for k in halved.knobs()] == ["p", "bias"]
    assert "nn.Dropout(p=p / 2)" in halved.source("torch")
