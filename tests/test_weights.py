"""Weights that do not fit: the unmatched tensors grouped by module, a hint for torchvision's."""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec
from archspec import SpecError
from archspec.backends.state_dict import check

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")


def test_torchvision_weights_into_the_papers_option_a_resnet34() -> None:
    from archspec.backends.pytorch import load_state_dict

    weights = torchvision.models.resnet34(weights=None).state_dict()
    with pytest.raises(SpecError) as caught:
        load_state_dict(archspec.load("specs/resnet34.yaml"), weights)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E404"
    assert diagnostic.message == (
        "the state_dict does not fit the spec:\n"
        "  unexpected 18 tensors: layer2.0.downsample (6 tensors); "
        "layer3.0.downsample (6 tensors); layer4.0.downsample (6 tensors)"
    )
    assert "specs/torchvision/" in diagnostic.help
    model = load_state_dict(archspec.load("specs/torchvision/resnet34.yaml"), weights)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())


def test_the_other_way_round_the_projections_are_missing() -> None:
    from archspec.backends.pytorch import load_state_dict

    option_a = archspec.load("specs/resnet34.yaml").to_torch().state_dict()
    with pytest.raises(SpecError, match=r"missing 18 tensors: layer2.0.downsample \(6 tensors\)"):
        load_state_dict(torchvision.models.resnet34(weights=None), option_a)


def test_shapes_and_foreign_names_without_the_torchvision_hint() -> None:
    from archspec.backends.pytorch import load_state_dict

    weights = dict(archspec.load("specs/cifar/resnet20.yaml").to_torch().state_dict())
    weights["fc.weight"] = torch.zeros(11, 64)
    with pytest.raises(SpecError) as caught:
        load_state_dict(archspec.load("specs/cifar/resnet20.yaml"), weights)
    assert "wrong shape: fc.weight is (11, 64), the spec needs (10, 64)" in str(caught.value)
    assert "torchvision" not in str(caught.value)
    wrapped = {f"module.{key}": value for key, value in weights.items()}  # as DDP saves them
    with pytest.raises(SpecError) as caught:
        load_state_dict(archspec.load("specs/cifar/resnet20.yaml"), wrapped)
    message = caught.value.diagnostics[0].message
    assert "unexpected 116 tensors: module (116 tensors)" in message
    assert "missing 116 tensors: conv1 (1 tensor); bn1 (5 tensors); layer1 (36 tensors)" in message


def test_many_groups_are_capped_and_flax_paths_use_slashes() -> None:
    expected = {f"layer{i}.0.weight": (2,) for i in range(12)}
    with pytest.raises(
        SpecError, match=r"missing 12 tensors: layer0 \(1 tensor\); .*; and 4 more\n"
    ) as caught:
        check(expected, {}, "state_dict")
    assert caught.value.diagnostics[0].message.count(";") == 8
    bias, kernel = ("head", "layers", 0, "bias"), ("head", "layers", 0, "kernel")
    with pytest.raises(SpecError, match="unexpected 1 tensor: head/layers/0/kernel\n"):
        check({bias: (3,)}, {kernel: (3, 3)}, "flax state", separator="/")
    check(expected, dict(expected), "state_dict")  # fits: nothing raised


def test_convert_reports_the_unmatched_modules_and_writes_nothing(tmp_path: Path) -> None:
    pytest.importorskip("flax")
    from typer.testing import CliRunner

    from archspec.cli.app import app

    weights = tmp_path / "resnet34.pt"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), weights)
    result = CliRunner().invoke(
        app, ["convert", "specs/resnet34.yaml", str(weights), str(tmp_path / "ckpt")]
    )
    assert result.exit_code == 1
    assert "unexpected 18 tensors: layer2.0.downsample (6 tensors)" in result.output
    assert "specs/torchvision/" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resnet34.pt"]
