"""Shipped specs by name: the rule that tells names, paths and folders apart, `archspec
list`, folders as arguments, and the parameters every shipped spec declares."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec import catalog
from archspec.cli.app import app

SPECS = Path(__file__).resolve().parent.parent / "specs"


def invoke(*args: str):  # noqa: ANN201
    return CliRunner().invoke(app, list(args))


def test_every_spec_file_is_shipped_under_its_path_as_name() -> None:
    on_disk = {
        p.relative_to(SPECS).with_suffix("").as_posix()
        for p in SPECS.rglob("*")
        if p.suffix in (".yaml", ".yml", ".arch")
    }
    assert set(catalog.shipped()) == on_disk
    assert {"resnet50", "torchvision/resnet50", "cifar/resnet110", "arch/resnet_d"} <= on_disk


def test_a_name_loads_the_same_network_as_its_file() -> None:
    for name in ("resnet50", "torchvision/resnet50", "cifar/resnet110", "arch/resnet34"):
        by_name = archspec.load(name)
        by_path = archspec.load(catalog.shipped()[name])
        assert by_name.rows() == by_path.rows() and by_name.counts == by_path.counts
    paper, torchvision = archspec.load("resnet50"), archspec.load("torchvision/resnet50")
    assert paper.counts.macs != torchvision.counts.macs  # the stride on the 1x1 or the 3x3


def test_an_unknown_name_is_located_with_the_closest_names() -> None:
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load("resnet5")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E106" and "did you mean 'resnet50'?" in diagnostic.help
    assert "archspec list" in diagnostic.help
    # a Path is always a file, never a name
    with pytest.raises(archspec.SpecError) as caught:
        archspec.load(Path("resnet50"))
    assert caught.value.diagnostics[0].code == "E105"


def test_every_shipped_spec_declares_num_classes() -> None:
    for name in catalog.shipped():
        arch = archspec.load(name)
        classes = dict(arch.network.parameters)["num_classes"]
        assert arch.network.output == (classes,), name
        assert archspec.load(name, num_classes=7).network.output == (7,), name


def test_the_command_line_takes_names_and_folders(tmp_path: Path) -> None:
    result = invoke("flops", "resnet50", "cifar/resnet20", "--json")
    assert result.exit_code == 0, result.output
    assert [r["params"] for r in json.loads(result.output)] == [25_557_032, 269_722]
    folder = invoke("check", str(SPECS / "cifar"))
    assert folder.exit_code == 0 and folder.output.count(": ok") == 11, folder.output
    one = invoke("build", str(SPECS / "cifar"), "-o", str(tmp_path / "x.py"))
    assert one.exit_code == 1 and "error[E106]" in one.output and "is a folder" in one.output
    assert not (tmp_path / "x.py").exists()
    empty = invoke("flops", str(tmp_path))
    assert empty.exit_code == 1 and "holds no spec files" in empty.output


def test_a_folder_argument_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog, "MAX_DIRECTORY_SPECS", 3)
    monkeypatch.setattr(catalog.spec_files, "__defaults__", (3,))
    for i in range(5):
        (tmp_path / f"n{i}.yaml").write_text("name: t\ninput: 3x8x8\nstem: conv(4)\n")
    result = invoke("check", str(tmp_path))
    assert result.exit_code == 1 and "holds more than 3 spec files" in result.output


def test_list_shows_every_shipped_spec_and_filters() -> None:
    records = json.loads(invoke("list", "--json").output)
    assert [r["name"] for r in records] == list(catalog.shipped())
    resnet34 = next(r for r in records if r["name"] == "resnet34")
    assert resnet34["params"] == 21_623_848 and resnet34["source"] == "Table 1"
    assert "option A" in resnet34["about"] and resnet34["display_name"] == "ResNet-34"
    table = invoke("list", "cifar/")
    assert table.exit_code == 0 and "cifar/resnet1202" in table.output
    assert "ResNet-1202" in table.output
    assert "torchvision/resnet50" not in table.output
    none = invoke("list", "no-such-net")
    assert none.exit_code == 2 and "no shipped spec's name contains" in none.output
