"""The Python API in notebooks: repr, HTML, rows as records, pandas, loads, memory."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys

import pytest

import archspec
from archspec import ir
from archspec.memory import MB

NET = "network tiny\ninput 3x8x8\nstem c=conv(4, 3) relu\nhead global_avgpool flatten fc(2)\n"


def test_repr_is_one_line_even_for_resnet_1202() -> None:
    arch = archspec.load("specs/cifar/resnet1202.yaml")
    assert repr(arch) == (
        "<Architecture resnet1202: input 3x32x32, output 10, 19,421,274 params, 2.83 GFLOPs>"
    )
    assert repr(archspec.load("specs/resnet152.yaml")) == (
        "<Architecture resnet152: input 3x224x224, output 1000, 60,192,808 params, 11.3 GFLOPs>"
    )


def test_html_has_the_block_table_the_totals_and_the_graph() -> None:
    arch = archspec.load("specs/resnet34.yaml")
    html = arch._repr_html_()
    assert html.count("<tr>") == 1 + 4 + 16 + 3 + 4 + 1  # header, stem, blocks, head, stages, total
    assert ">layer2.0<" in html.replace("\u2003", "") and ">21,623,848<" in html
    assert "&lt;Architecture resnet34: input 3x224x224" in html
    if shutil.which("dot"):
        assert html.count("<svg") == 1 and "<?xml" not in html
        assert html.count('class="node block basic"') == 16


def test_html_escapes_spec_text_and_leaves_out_the_graph_without_graphviz(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arch = archspec.loads(NET.replace("tiny", "x_lt"))
    monkeypatch.setitem(sys.modules, "graphviz", None)  # not installed
    html = arch._repr_html_()
    assert "<svg" not in html and "<table>" in html
    big = archspec.load("specs/cifar/resnet1202.yaml")._repr_html_()
    assert "600 blocks: stages folded, no graph" in big and len(big) < 10_000


def test_rows_as_dicts_and_as_a_dataframe() -> None:
    arch = archspec.load("specs/cifar/resnet20.yaml")
    records = [row.as_dict() for row in arch.rows()]
    assert records[0] == {
        "path": "conv1",
        "op": "conv",
        "output": (16, 32, 32),
        "params": 432,
        "macs": 442_368,
        "activations": 16_384,
        "fvcore": 442_368,
    }
    pandas = pytest.importorskip("pandas")
    frame = arch.to_pandas()
    assert isinstance(frame, pandas.DataFrame) and len(frame) == len(records)
    assert int(frame["params"].sum()) == arch.counts.params == 269_722
    assert int(frame.groupby("op")["macs"].sum()["fc"]) == 640


def test_to_pandas_names_the_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ModuleNotFoundError, match="needs pandas, which is not installed: pip"):
        archspec.loads(NET).to_pandas()


def test_loads_takes_text_never_a_path() -> None:
    assert archspec.loads(NET).counts.params == 4 * 3 * 9 + 2 * 4 + 2
    yaml_text = "name: t\ninput: 3x8x8\nstem: conv(4, 3)\nhead: global_avgpool flatten fc(2)\n"
    assert archspec.loads(yaml_text, input="3x16x16").network.input == (3, 16, 16)
    with pytest.raises(archspec.SpecError) as caught:
        archspec.loads("specs/resnet34.yaml")  # text, not a file name
    assert caught.value.code == "E200"


def test_import_archspec_loads_no_framework_and_no_pandas() -> None:
    code = (
        "import sys, archspec; archspec.load('specs/resnet34.yaml').counts; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'torch', 'jax', 'flax', 'pandas', 'graphviz', 'onnx', 'numpy'}))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert found.stdout.strip() == "[]", found.stderr


def test_memory_estimate_adds_up() -> None:
    arch = archspec.load("specs/cifar/resnet20.yaml")
    memory = arch.memory(batch=8)
    assert memory.input == 8 * 3 * 32 * 32 * 4
    assert memory.parameters == 269_722 * 4
    assert memory.forward == memory.backward == 8 * arch.counts.activations * 4
    assert memory.total == memory.input + memory.parameters + 2 * memory.forward
    assert memory.as_dict()["total"] == memory.total
    text = arch.summary(batch=8)
    assert f"estimated total: {memory.total / MB:,.2f} MB" in text
    assert arch.memory(batch=16, bytes_per_element=2).forward == memory.forward


def _torchinfo_mult_adds(arch: archspec.Architecture) -> int:
    """torchinfo's rule: a multiply-add per weight and bias element at every output
    position for convolutions, once per sample for every other layer's parameters."""
    total = 0
    for layer in ir.layers(arch.network):
        params = arch.counts_by_path[layer.path].params
        if isinstance(layer.op, ir.Conv2d):
            total += params * math.prod(layer.output[1:])
        else:
            total += params
    return total


@pytest.mark.parametrize(
    ("spec", "input"),
    [
        ("specs/cifar/resnet20.yaml", None),  # option A: a shortcut module without parameters
        ("specs/torchvision/resnet50.yaml", "3x64x64"),
        ("specs/vgg11.yaml", "3x64x64"),  # convolutions with bias
    ],
)
def test_memory_and_mult_adds_against_torchinfo(spec: str, input: str | None) -> None:
    torch = pytest.importorskip("torch")
    torchinfo = pytest.importorskip("torchinfo")
    arch = archspec.load(spec, input=input)
    batch = 4
    memory = arch.memory(batch)
    stats = torchinfo.summary(arch.to_torch(), input_size=(batch, *arch.network.input), verbose=0)
    assert stats.total_params == arch.counts.params
    assert stats.total_param_bytes == memory.parameters
    assert stats.total_output_bytes == memory.torchinfo_forward_backward
    # torchinfo's input is sys.getsizeof of the tensor's storage: the data plus the object
    overhead = sys.getsizeof(torch.empty(0).untyped_storage())
    assert stats.total_input == memory.input + overhead
    assert stats.total_mult_adds == batch * _torchinfo_mult_adds(arch)
    assert memory.forward + memory.backward > stats.total_output_bytes  # every layer's output
