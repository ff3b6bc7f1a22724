"""archspec export: ONNX (checker, onnxruntime), TorchScript and torch.export, each read back
and run against the torch model; TorchScript on to_torch() itself; nothing half-written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import archspec
from archspec.backends import EXPORT_FORMATS
from archspec.cli.app import app

torch = pytest.importorskip("torch")
from torch_helpers import ROOT, load_small, write_nested  # noqa: E402

from archspec.backends import export as exporting  # noqa: E402

runner = CliRunner()
SPEC = "specs/cifar/resnet20.yaml"


def test_every_format_has_an_exporter_and_a_cli_choice() -> None:
    from archspec.cli.export import ExportFormat

    assert set(exporting.FORMAT_TABLE) == set(EXPORT_FORMATS) == {f.value for f in ExportFormat}


@pytest.mark.parametrize(
    "spec",
    [
        SPEC,  # option A: strided slicing and channel padding
        "specs/cifar/plain20.yaml",  # no additions
        "specs/torchvision/resnet50.yaml",  # bottlenecks with projections
        "specs/arch/resnet_d.arch",  # a user projection with average pooling
        "specs/vgg11.yaml",  # dropout, adaptive pooling, a classifier sequence
        "nested",  # blocks inside a block
        "specs/torchvision/convnext_tiny.yaml",  # layer norm, channel fc, layer scale
        "specs/torchvision/efficientnet_b0.yaml",  # stochastic depth, SE gates
    ],
)
def test_torch_jit_script_compiles_to_torch(spec: str, tmp_path: Path) -> None:
    arch = archspec.load(write_nested(tmp_path)) if spec == "nested" else load_small(spec)
    model = arch.to_torch().eval()
    scripted = torch.jit.script(model)
    x = torch.randn(2, *arch.network.input)
    with torch.no_grad():
        assert torch.equal(scripted(x), model(x))
    assert list(scripted.state_dict()) == list(model.state_dict())


@pytest.fixture
def trained(tmp_path: Path) -> tuple[Any, Path]:
    """ResNet-20 with weights off their initial values, and a file holding them."""
    model = archspec.load(SPEC).to_torch()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.01)
    weights = tmp_path / "trained.pt"
    torch.save(model.state_dict(), weights)
    return model.eval(), weights


@pytest.mark.parametrize(
    "format",
    # torch.export traces in ~20 s here (the ONNX exporter goes through it): marked slow
    [pytest.param(f, marks=pytest.mark.slow) if f != "torchscript" else f for f in EXPORT_FORMATS],
)
def test_each_format_reads_back_equal_to_torch_at_any_batch(
    format: str, trained: tuple[Any, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, weights = trained
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(
        app, ["export", str(ROOT / SPEC), "--format", format, "-w", str(weights)]
    )
    assert result.exit_code == 0, result.output
    target = tmp_path / ("resnet20" + EXPORT_FORMATS[format])
    assert f"wrote {target.name} ({format}," in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, "trained.pt"])
    x = torch.randn(5, 3, 32, 32)  # a batch size the export never saw
    with torch.no_grad():
        expected = model(x)
        if format == "onnx":
            import onnx
            import onnxruntime

            onnx.checker.check_model(onnx.load(target), full_check=True)
            session = onnxruntime.InferenceSession(target, providers=["CPUExecutionProvider"])
            found = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
        elif format == "torchscript":
            found = torch.jit.load(target)(x)
        else:
            found = torch.export.load(target).module()(x)
    assert (found - expected).abs().max() <= 1e-5 * max(1.0, float(expected.abs().max()))


def test_a_wrong_export_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is real: an exporter whose model computes something else raises E406."""
    serialise, reload = exporting.FORMAT_TABLE["torchscript"]

    def off_by_one(data: bytes):  # noqa: ANN202
        run = reload(data)
        return lambda batch: run(batch) + 1e-3

    monkeypatch.setitem(exporting.FORMAT_TABLE, "torchscript", (serialise, off_by_one))
    arch = archspec.load(SPEC)
    with pytest.raises(archspec.SpecError) as caught:
        exporting.export(arch.to_torch(), arch.network.input, "torchscript")
    assert caught.value.code == "E406" and "differ from torch's by 0.001" in str(caught.value)

    def unsupported(model: Any, example: Any) -> bytes:
        raise RuntimeError("Unsupported: data-dependent control flow\n<long trace>")

    monkeypatch.setitem(exporting.FORMAT_TABLE, "torchscript", (unsupported, reload))
    with pytest.raises(archspec.SpecError) as caught:
        exporting.export(arch.to_torch(), arch.network.input, "torchscript")
    assert caught.value.diagnostics[0].message == (
        "the torchscript export failed: RuntimeError: Unsupported: data-dependent control flow"
    )


def test_the_command_writes_nothing_on_failure(tmp_path: Path) -> None:
    wrong = tmp_path / "resnet32.pt"
    torch.save(archspec.load("specs/cifar/resnet32.yaml").to_torch().state_dict(), wrong)
    target = tmp_path / "out.onnx"
    result = runner.invoke(app, ["export", SPEC, "-o", str(target), "--weights", str(wrong)])
    assert result.exit_code == 1 and "E404" in result.output
    assert "unexpected 72 tensors: layer1.3 (12 tensors)" in result.output
    bad = runner.invoke(app, ["export", SPEC, "--format", "tflite", "-o", str(target)])
    assert bad.exit_code == 2 and "'tflite' is not one of" in bad.output
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    unreadable = runner.invoke(app, ["export", SPEC, "-o", str(target), "-w", str(garbage)])
    assert unreadable.exit_code == 1 and "E105" in unreadable.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.pt", "resnet32.pt"]
