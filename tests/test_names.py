"""The names policy (archspec.names): static lists kept equal to the installed frameworks,
refusals located in the spec, and every name of the policy walked through both backends
as a layer name and as a network name: refused where it is written, or a working module."""

from __future__ import annotations

import dataclasses
import keyword
import sys
from pathlib import Path
from typing import Any

import pytest

import archspec
from archspec.frontend.grammar import KEYWORDS
from archspec.lower import names

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from torch_helpers import import_file  # noqa: E402

PRIVATE_SAMPLES = {"_modules", "_forward_hooks", "_parameters", "_pytree__state", "_0", "_"}
DUNDERS = {"__dict__", "__class__", "__init__", "__call__", "__getattr__", "__all__"}
NEAR_MISSES = {"train_", "modules_", "forward2", "Forward", "layers_", "F_", "net", "stage2"}


def attributes(obj: object) -> set[str]:
    return set(dir(obj)) | set(vars(obj))


def framework_attributes() -> set[str]:
    """Every attribute, private ones too, of the installed frameworks' containers."""
    found: set[str] = set()
    try:
        from torch import nn

        found |= attributes(nn.Module()) | attributes(nn.Sequential())
    except ImportError:
        pass
    try:
        from flax import nnx

        class Empty(nnx.Module):
            pass

        found |= attributes(Empty()) | attributes(nnx.Sequential()) | attributes(nnx.Dict({}))
    except ImportError:
        pass
    return found


def candidates() -> list[str]:
    """The whole policy and the names around it."""
    return sorted(
        names.FRAMEWORK_ATTRIBUTES
        | set(names.EMITTED_GLOBALS)
        | names.EMITTED_LOCALS
        | set(keyword.kwlist)
        | set(keyword.softkwlist)
        | KEYWORDS
        | PRIVATE_SAMPLES
        | DUNDERS
        | NEAR_MISSES
        | framework_attributes()
    )


# ---- the lists are the frameworks'


def test_torch_list_equals_the_installed_torch() -> None:
    torch = pytest.importorskip("torch")
    found = attributes(torch.nn.Module()) | attributes(torch.nn.Sequential())
    assert {n for n in found if not n.startswith("_")} == names.TORCH_ATTRIBUTES
    assert all(names.refused_attribute(n) for n in found)  # private ones by their '_'


def test_flax_list_equals_the_installed_flax() -> None:
    nnx = pytest.importorskip("flax.nnx")

    class Empty(nnx.Module):
        pass

    found = attributes(Empty()) | attributes(nnx.Dict({}))
    assert {n for n in found if not n.startswith("_")} == names.FLAX_ATTRIBUTES
    assert all(names.refused_attribute(n) for n in found)
    # nnx.Sequential adds only the list holding its children, which are never attributes
    sequential = nnx.Sequential(nnx.Dict({}))
    assert {n for n in attributes(sequential) - found if not n.startswith("_")} == {"layers"}
    assert not any(isinstance(v, nnx.Dict) for k, v in vars(sequential).items() if k != "layers")


def test_every_runtime_helper_is_an_emitted_global() -> None:
    """An emitted file may carry any runtime helper: no network class or block argument
    may take its name (a network named ``chunk`` would be a second class ``Chunk``)."""
    from archspec.backends.nnx import dialect as flax_dialect
    from archspec.backends.pytorch import dialect as torch_dialect

    helpers = set(torch_dialect.HELPERS) | set(flax_dialect.HELPERS)
    assert helpers <= set(names.EMITTED_GLOBALS)
    assert names.refused_network_name("chunk") and names.refused_network_name("tokens")


def test_in_memory_containers_add_only_refused_attributes() -> None:
    """The in-memory builders' own classes keep their state in '_' names."""
    pytest.importorskip("torch")
    pytest.importorskip("flax")
    from flax import nnx

    from archspec.backends.nnx import builder as flax_nnx

    arch = archspec.load(network_spec("net"))
    containers = 0
    for module in arch.to_torch().modules():
        children = {name for name, _ in module.named_children()}
        if children:  # a layer holds no spec names
            extra = attributes(module) - children
            assert all(names.refused_attribute(n) for n in extra), (type(module), extra)
            containers += 1
    holders = (flax_nnx.FlowModule, nnx.Sequential, nnx.Dict)  # not NamedSequential:
    for _, module in nnx.iter_modules(arch.to_flax(abstract=True)):  # its nnx.Dict holds them
        if isinstance(module, holders):
            children = {name for name, value in vars(module).items() if callable(value)}
            if isinstance(module, nnx.Sequential):  # its children, numbered, in its list
                children = {"layers"}
            extra = set(vars(module)) - children
            assert all(names.refused_attribute(n) for n in extra), (type(module), extra)
            containers += 1
    assert containers == 8  # network, group, stage, block: in each backend


# ---- refused where written


def refusal(text: str) -> Any:
    try:
        archspec.load(text)
    except archspec.SpecError as error:
        return error.diagnostics[0]
    return None


@pytest.mark.parametrize("where", ["layer", "stage"])
def test_every_reserved_name_is_refused_at_its_place(where: str) -> None:
    refused = [n for n in candidates() if names.refused_module_name(n)]
    assert len(refused) > 100
    for name in refused:
        if where == "layer":
            found = refusal(f"name: t\ninput: 3x8x8\nstem: ok=conv(4) {name}=relu\n")
            position = (3, 18)
        else:
            found = refusal(f"name: t\ninput: 3x8x8\nstages:\n  {name}: basic(3) x 1\n")
            position = (4, 3)
        assert found is not None, name
        at = (found.span.line, found.span.column)
        if found.code == "E100":  # a keyword of the language cannot even parse as a name
            assert name in KEYWORDS and at[0] == position[0], name
            assert position[1] <= at[1] <= position[1] + len(name), name
        elif found.code == "E107":  # a YAML key YAML reads as no string (`True`, `null`)
            assert where == "stage" and at == position, name
        else:
            assert found.code == "E311" and at == position, name


def test_network_names_that_would_break_the_emitted_module_are_refused() -> None:
    for name, why in [
        ("f", "torch.nn.functional"),
        ("zero_pad_shortcut", "option A's shortcut module"),
        ("batch_norm2d", "batch norm"),
        ("ordered_dict", "collections.OrderedDict"),
        ("true", "keyword"),
        ("none", "keyword"),
    ]:
        found = refusal(f"name: '{name}'\ninput: 3x4x4\nstem: conv(2, 1)\n")
        assert found is not None and found.code == "E311", name
        assert (found.span.line, found.span.column) == (1, 7) and why in found.message


# ---- every name through both backends


def allowed_layer_names() -> list[str]:
    allowed = [n for n in candidates() if not names.refused_module_name(n)]
    assert {"F", "nn", "torch", "jnp", "self", "out", "rngs", "downsample", "Forward"} <= set(
        allowed
    )
    return allowed


def walk_spec(allowed: list[str]) -> str:
    """Every allowed name as a layer at the top level, in a named group, in a block."""
    quoted = [f'"{name}"' if name in KEYWORDS else name for name in allowed]  # `add`, `as`
    layers = " ".join(
        f"{name}=conv(w, 1)" if index % 2 else f"{name}=bn" for index, name in enumerate(quoted)
    )
    return (
        "name: walk\ninput: 3x4x4\ndefine: |\n"
        f"  block mine(w) = conv(w, 1) {layers}\n"
        f"stem: w=conv(4, 1) {layers.replace('(w,', '(4,')}"
        f" group=(conv(4, 1) {layers.replace('(w,', '(4,')})\n"
        "stages:\n  layer1: mine(4) x 2\nhead: global_avgpool flatten fc(2)\n"
    )


def check_both_backends(arch: Any, directory: Path) -> None:
    """The emitted module compiles, imports, instantiates and equals the in-memory model:
    torch on weights (one seed) and outputs; flax on its state and XLA program."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("flax")
    from flax_helpers import emitted_abstract, program, state_layout
    from torch_helpers import assert_same_model, emitted_model

    from archspec.backends.nnx import builder as flax_nnx

    torch.manual_seed(0)
    emitted = emitted_model(arch, directory)
    torch.manual_seed(0)
    assert_same_model(emitted, arch.to_torch(), arch.network.input)
    built = flax_nnx.build(arch.network, abstract=True)
    _, flax_emitted = emitted_abstract(arch, directory)
    assert state_layout(flax_emitted) == state_layout(built)
    assert program(flax_emitted, arch.network.input) == program(built, arch.network.input)


def test_every_allowed_name_works_as_a_layer_name_in_both_backends(tmp_path: Path) -> None:
    allowed = allowed_layer_names()
    spec = tmp_path / "walk.yaml"
    spec.write_text(walk_spec(allowed))
    arch = archspec.load(spec)
    paths = {place.path for place in archspec.ir.walk(arch.network)}
    assert {f"layer1.0.{n}" for n in allowed} | {f"group.{n}" for n in allowed} <= paths
    check_both_backends(arch, tmp_path)


def network_spec(name: str) -> str:
    """A small network that uses every global an emitted module can use: option A (``F``,
    ``ZeroPadShortcut``, ``Callable``), pools and ``partial``, a named group
    (``OrderedDict``, ``NamedSequential``), batch norm, dropout."""
    return (
        f"name: {name}\ninput: 3x8x8\nshortcut: A\n"
        "stem: conv(4, 1) pool=maxpool(3, stride=1, padding=1) g=(a=relu b=avgpool(1))\n"
        "stages:\n  layer1: basic(8) x 1 /2\n"
        "head: adaptive_avgpool(1) flatten dropout(0.1) fc(2)\n"
    )


def same_text(text: str, reference: str, name: str) -> bool:
    """``text`` is ``reference`` (written for the network ``zzref``) but for the name,
    up to where the docstrings wrap."""
    renamed = reference.replace("Zzref", names.class_name(name)).replace("zzref", name)
    return text.split() == renamed.split()


@pytest.mark.parametrize("part", range(4))  # in parts, for pytest-xdist
def test_every_allowed_name_works_as_a_network_name_in_both_backends(
    part: int, tmp_path: Path
) -> None:
    """A network's name changes its class name and prose only. So each module is checked
    to be the reference module but for that (its text), then executed and instantiated:
    torch's gives to_torch()'s outputs, flax's has the in-memory build's state; the
    reference itself is compared with the in-memory models in full."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("flax")
    from flax import nnx
    from flax_helpers import state_layout

    from archspec.backends.nnx import builder as flax_nnx

    reference = archspec.load(network_spec("zzref"))
    if part == 0:
        check_both_backends(reference, tmp_path)
    texts = {backend: reference.source(backend) for backend in ("torch", "flax")}
    torch.manual_seed(0)
    expected = reference.to_torch().eval()
    x = torch.randn(2, *reference.network.input)
    layout = state_layout(flax_nnx.build(reference.network, abstract=True))
    flax_classes = []
    allowed = [n for n in candidates() if n[:1].isalpha() and not names.refused_network_name(n)]
    assert len(allowed) > 150
    for index, name in enumerate(allowed[part::4]):
        arch = archspec.load(network_spec(name))
        modules = {}
        for backend, reference_text in texts.items():
            text = arch.source(backend)
            assert same_text(text, reference_text, name), (name, backend)
            path = tmp_path / f"{backend}_{index}.py"
            path.write_text(text)
            modules[backend] = import_file(path)
        torch.manual_seed(0)
        model = getattr(modules["torch"], names.class_name(name))().eval()
        with torch.no_grad():
            assert torch.equal(model(x), expected(x)), name
        flax_classes.append(getattr(modules["flax"], names.class_name(name)))
    for cls in flax_classes:  # one at a time: a trace grows slower with every variable
        assert state_layout(nnx.eval_shape(lambda cls=cls: cls(rngs=nnx.Rngs(0)))) == layout


@pytest.mark.parametrize("name", ["basic_block", "bottleneck"])
def test_a_network_named_like_a_block_class_keeps_its_name(name: str, tmp_path: Path) -> None:
    """The block class is numbered instead (``BasicBlock2``), in both backends."""
    text = network_spec(name).replace("basic(8) x 1 /2", "basic(8) x 1 /2\n  layer2: bottleneck(2)")
    arch = archspec.load(text)
    cls = names.class_name(name)
    for backend in ("torch", "flax"):
        source = arch.source(backend)
        assert f"class {cls}(" in source and f"class {cls}2(" in source
    check_both_backends(arch, tmp_path)


def test_backends_refuse_hand_built_irs_with_reserved_names() -> None:
    """An IR that skipped lowering (a hand-built one) gets the same policy: E405."""
    sys.path.insert(0, str(ROOT / "tests"))
    from torch_helpers import hand_cifar

    network = hand_cifar(1)
    first, *rest = network.members
    for bad in ("_modules", "reset_parameters", "items", "a.b"):
        renamed = dataclasses.replace(
            network, flow=archspec.ir.Chain((archspec.ir.Member(bad, first.node), *rest))
        )
        for backend in ("torch", "flax"):
            with pytest.raises(archspec.SpecError) as caught:
                archspec.Architecture(renamed).source(backend)
            assert caught.value.code == "E405", bad
    with pytest.raises(archspec.SpecError):
        archspec.Architecture(dataclasses.replace(network, name="f")).source("torch")


# ---- display names: how people write a network's name, and its class


def test_a_display_name_makes_the_class_in_both_backends(tmp_path: Path) -> None:
    text = network_spec("resnext50").replace(
        "name: resnext50\n", "name: resnext50\ndisplay_name: ResNeXt-50 32x4d\n"
    )
    arch = archspec.load(text)
    assert arch.network.display_name == "ResNeXt-50 32x4d"
    for backend in ("torch", "flax"):
        assert "class ResNeXt50_32x4d(" in arch.source(backend)
    check_both_backends(arch, tmp_path)
    plain = archspec.load(network_spec("resnext50_32x4d"))
    assert "class Resnext50_32x4d(" in plain.source("torch")


def test_the_arch_form_writes_the_display_name_as_a_statement() -> None:
    arch = archspec.load(ROOT / "specs" / "arch" / "resnet34.arch")
    yaml = archspec.load(ROOT / "specs" / "resnet34.yaml")
    assert arch.network.display_name == yaml.network.display_name == "ResNet-34"
    assert "class ResNet34(" in arch.source("torch")


@pytest.mark.parametrize(
    ("display", "code", "why"),
    [
        ("None", "E311", "keyword"),
        ("F", "E311", "torch.nn.functional"),
        ("9 lives", "E204", "must be a letter"),
        ("Net\\x1b[31m", "E204", "must be a letter"),
        ("Net(1)", "E204", "must be a letter"),
        ("Net\\n", "E204", "must be a letter"),
        ("N" * 65, "E204", "at most 63"),
    ],
)
def test_display_names_that_cannot_make_a_class_are_refused_where_written(
    display: str, code: str, why: str
) -> None:
    yaml = refusal(f'name: net\ndisplay_name: "{display}"\ninput: 3x4x4\nstem: conv(2, 1)\n')
    assert yaml is not None and (yaml.code, yaml.span.line, yaml.span.column) == (code, 2, 15)
    assert why in yaml.message
    arch = refusal(f'network net\ndisplay "{display}"\ninput 3x4x4\nstem conv(2, 1)\n')
    assert arch is not None and (arch.code, arch.span.line, arch.span.column) == (code, 2, 9)


def test_a_preset_naming_another_network_does_not_inherit_the_display_name(
    tmp_path: Path,
) -> None:
    (tmp_path / "base.yaml").write_text(
        "name: base\ndisplay_name: Base-1\ninput: 3x4x4\nparams: {w: 2}\nstem: conv(w, 1)\n"
    )
    (tmp_path / "other.yaml").write_text("extends: base.yaml\nname: other\nparams: {w: 3}\n")
    (tmp_path / "wider.yaml").write_text("extends: base.yaml\nparams: {w: 3}\n")
    assert archspec.load(tmp_path / "other.yaml").network.display_name == ""
    assert "class Other(" in archspec.load(tmp_path / "other.yaml").source("torch")
    assert archspec.load(tmp_path / "wider.yaml").network.display_name == "Base-1"


def test_every_shipped_spec_has_a_display_name_its_class_keeps() -> None:
    from archspec.catalog import shipped

    for name, path in shipped().items():
        network = archspec.load(path).network
        assert network.display_name, name
        cls = names.class_name(network.display_name)
        assert cls.replace("_", "").lower() == "".join(
            c for c in network.display_name.lower() if c.isalnum()
        ), name
