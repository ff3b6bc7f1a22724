"""Export a torch model as ONNX, TorchScript or a ``torch.export`` program, checked on the way.

Each format is serialised in memory, read back the way a user would read it (onnxruntime,
``torch.jit.load``, ``torch.export.load``) and run on a random batch next to the torch
model: the bytes are returned only when the outputs agree within ``TOLERANCE``, so a
command can write them atomically or not at all. The batch dimension stays dynamic, and
the check runs at two batch sizes to prove it.
"""

from __future__ import annotations

import importlib
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import torch
from torch import nn

from archspec.backends import missing_extra
from archspec.diagnostics import Diagnostic, SpecError

TOLERANCE = 1e-5
"""Largest difference allowed, relative to the largest output (when that exceeds 1)."""
CHECK_BATCHES = (2, 3)
"""Export with the first batch size, check with both: the batch dimension is dynamic."""

Runner = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Exported:
    """The serialised model and how far its outputs were from torch's."""

    format: str
    data: bytes
    difference: float
    """max |exported - torch| over the check batches"""


def export(model: nn.Module, input: tuple[int, ...], format: str, seed: int = 0) -> Exported:
    """Serialise ``model`` (put in eval mode) and check the result against it.

    Raises SpecError E400 when the format's packages are missing (the ``export`` extra),
    E406 when the exporter fails or the exported model's outputs differ from torch's.
    """
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    batches = [torch.randn(size, *input, generator=generator) for size in CHECK_BATCHES]
    serialise, reload = FORMAT_TABLE[format]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # deprecations and tracer notes, not the user's
        try:
            data = serialise(model, batches[0])
            run = reload(data)
        except SpecError:
            raise
        except Exception as error:  # the exporters and checkers raise many kinds
            first = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
            raise _refused(format, f"{type(error).__name__}: {first}", "failed") from None
        difference, scale = 0.0, 1.0
        for batch in batches:
            expected, found = model(batch), run(batch)
            if found.shape != expected.shape:
                shapes = f"output shape {tuple(found.shape)}, torch's is {tuple(expected.shape)}"
                raise _refused(format, shapes)
            difference = max(difference, float((found - expected).abs().max()))
            scale = max(scale, float(expected.abs().max()))
    if not difference <= TOLERANCE * scale:  # also catches NaN
        raise _refused(format, f"outputs differ from torch's by {difference:.3g}")
    return Exported(format, data, difference)


def _refused(format: str, what: str, outcome: str = "does not reproduce the model") -> SpecError:
    return SpecError(
        [
            Diagnostic(
                code="E406",
                message=f"the {format} export {outcome}: {what}",
                help=f"nothing was written; try another --format, or report the spec "
                f"(the check allows {TOLERANCE:g} relative to the largest output)",
            )
        ]
    )


def _batch_dimension() -> dict[int, torch.export.Dim]:
    return {0: torch.export.Dim("batch", min=1, max=1 << 16)}


# -- ONNX: torch's exporter, onnx's checker, onnxruntime ------------------------------------


def _onnx(model: nn.Module, example: torch.Tensor) -> bytes:
    onnx = _require("onnx")
    _require("onnxscript")  # torch's exporter needs it
    program = torch.onnx.export(
        model,
        (example,),
        dynamo=True,
        input_names=["input"],
        output_names=["output"],
        dynamic_shapes=(_batch_dimension(),),
        verbose=False,
    )
    assert program is not None
    proto = program.model_proto
    onnx.checker.check_model(proto, full_check=True)
    return bytes(proto.SerializeToString())


def _onnxruntime(data: bytes) -> Runner:
    onnxruntime = _require("onnxruntime")
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])

    def run(batch: torch.Tensor) -> torch.Tensor:
        (output,) = session.run(None, {"input": batch.numpy()})
        return torch.from_numpy(output)

    return run


# -- TorchScript and torch.export: saved and loaded with torch's own functions ------------


def _torchscript(model: nn.Module, example: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(model), buffer)
    return buffer.getvalue()


def _torchscript_load(data: bytes) -> Runner:
    loaded = torch.jit.load(io.BytesIO(data))  # type: ignore[no-untyped-call]
    return lambda batch: loaded(batch)


def _exported_program(model: nn.Module, example: torch.Tensor) -> bytes:
    program = torch.export.export(model, (example,), dynamic_shapes=(_batch_dimension(),))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def _exported_program_load(data: bytes) -> Runner:
    loaded = torch.export.load(io.BytesIO(data)).module()
    return lambda batch: loaded(batch)


FORMAT_TABLE: dict[
    str, tuple[Callable[[nn.Module, torch.Tensor], bytes], Callable[[bytes], Runner]]
] = {
    "onnx": (_onnx, _onnxruntime),
    "torchscript": (_torchscript, _torchscript_load),
    "exported-program": (_exported_program, _exported_program_load),
}


def _require(package: str) -> ModuleType:
    """An optional package of the ``export`` extra, or E400 naming the extra."""
    try:
        return importlib.import_module(package)
    except ImportError as error:
        raise missing_extra("export", error) from None
