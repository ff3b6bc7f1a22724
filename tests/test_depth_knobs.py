"""Stage depths as keywords of the emitted class: ``ResNet20(n=18)`` is the ResNet-110
that ``archspec build cifar.yaml -D n=18`` writes, ``ResNet50(n3=23)`` torchvision's
ResNet-101. The rule (``archspec.codegen.knobs``) takes no guess: a depth written other
than as the bare parameter, a parameter read anywhere else, copies that read ``i`` or
differ from one another, and it is no knob. Cost, alone on one core: 14 s, mostly the
ResNet-101 at 64x64 (4 s), the Flax ResNet-14s compiled unoptimised (3 s) and the torch
ResNet-8 and ResNet-32 at CIFAR size (3 s); the rule tests compile small specs (1 s)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import archspec

CIFAR = "specs/cifar/cifar.yaml"
HEAD = "head: pool=global_avgpool flatten=flatten fc=fc(10)\n"


def knobs(text: str) -> dict[str, frozenset[str]]:
    """Each knob of a spec: the stages it sets the depth of (none for a width)."""
    return {k.name: k.groups for k in archspec.loads(text).knobs()}


def spec(stages: str, params: str = "n: 2", stem: str = "conv(8, 3)") -> str:
    return f"name: t\ninput: 3x8x8\nparams: {{{params}}}\nstem: {stem}\nstages:\n{stages}{HEAD}"


def emitted_class(arch: archspec.Architecture, directory: Path, backend: str = "torch") -> Any:
    from torch_helpers import import_file

    path = directory / f"{arch.name}_{backend}.py"
    path.write_text(arch.source(backend))
    module = import_file(path)
    return getattr(module, module.__all__[0])


# ---- the rule


def test_shipped_stage_depths_are_knobs() -> None:
    cifar = {k.name: sorted(k.groups) for k in archspec.load("cifar/resnet20").knobs()}
    assert cifar == {"n": ["layer1", "layer2", "layer3"], "num_classes": [], "in_channels": []}
    resnet50 = {k.name: sorted(k.groups) for k in archspec.load("torchvision/resnet50").knobs()}
    widths: dict[str, list[str]] = {
        "groups": [],
        "width_per_group": [],
        "num_classes": [],
        "in_channels": [],
    }
    assert resnet50 == {f"n{i}": [f"layer{i}"] for i in range(1, 5)} | widths
    # DenseNet's blocks grow the channels copy by copy: loops (tests/test_indexed_knobs.py)
    densenet = [k for k in archspec.load("torchvision/densenet121").knobs() if k.groups]
    assert [(k.name, bool(k.looped)) for k in densenet] == [(f"b{i}", True) for i in range(1, 5)]


def test_a_depth_is_a_knob_only_as_the_bare_parameter_read_nowhere_else() -> None:
    assert knobs(spec("  s: basic(8) x n\n")) == {"n": frozenset({"s"})}
    assert knobs(spec("  s: basic(8) x n\n  t: basic(8) x n /2\n")) == {"n": {"s", "t"}}
    assert knobs(spec("  s: basic(8) x (2*n)\n")) == {}
    assert knobs(spec("  s: basic(8) x (n+1)\n")) == {}
    assert knobs(spec("  s: basic(8) x n\n  t: basic(8) x (n+1)\n")) == {}
    # a depth and a width at once
    assert knobs(spec("  s: basic(8) x n\n", params="n: 8", stem="conv(n, 3)")) == {}
    assert knobs(spec("  s: basic(n) x n\n", params="n: 8")) == {}
    assert knobs(spec("  s: basic(8) x n /n\n", params="n: 1")) == {}
    # read where n + 1 changes nothing, and still read: the probe alone would be fooled
    assert knobs(spec("  s: basic(8) x n\n", stem="conv(8 if n < 9 else 16, 3)")) == {}
    arch = "network t\ninput 3x8x8\nparam n = 2, m = 1 + n // 9\nstem conv(8, 3)\n"
    arch += "stage s = basic(8) x n\nstage t = basic(8) x m\n" + HEAD.replace(": ", " ", 1)
    assert knobs(arch) == {"m": frozenset({"t"})}  # n sets m's default too
    # copies that read their index, though n + 1 makes the same network
    assert knobs(spec("  s: basic(8 if i < 9 else 16) x n\n")) == {}
    # read by the input shape
    assert knobs(spec("  s: basic(8) x n\n").replace("3x8x8", "n x 8x8")) == {}


def test_a_stage_whose_copies_keep_changing_is_no_knob() -> None:
    # copies that grow by a step are a loop over the index (tests/test_indexed_knobs.py)
    grows = "define: 'block grow(g) = concat(identity, conv(g, 3))'\n"
    assert knobs(grows + spec("  s: grow(4) x n\n")) == {"n": frozenset({"s"})}
    assert [bool(k.looped) for k in archspec.loads(grows + spec("  s: grow(4) x n\n")).knobs()] == [
        True
    ]
    # 8 -> 16 -> 32 -> 32 ...: n + 1 adds a block equal to the last, but the second block
    # is distinct too, and at depth 2 the stage would end in 16 channels
    doubles = "define: 'block double(most) = conv(min(in_channels * 2, most), 1)'\n"
    assert knobs(doubles + spec("  s: double(32) x n\n", params="n: 3")) == {}
    assert knobs(doubles + spec("  s: double(16) x n\n", params="n: 3")) == {"n": {"s"}}
    # at depth 1 nothing shows the second block: with a distinct first, no knob
    assert knobs(spec("  s: basic(8) x n\n  t: basic(16) x n /2\n", params="n: 1")) == {}
    assert knobs(spec("  s: basic(8) x n\n", params="n: 1")) == {"n": frozenset({"s"})}


def test_the_emitted_source_repeats_the_copies_after_the_first() -> None:
    arch = archspec.load("cifar/resnet20")
    for backend in ("torch", "flax"):
        source = arch.source(backend)
        keywords = "*, n: int = 3, num_classes: int = 10, in_channels: int = 3,"
        assert keywords in " ".join(source.split())  # one per line, as ruff formats them
        assert "Keyword arguments (spec parameters): n=3, num_classes=10, in_channels=3\n" in source
        assert 'check_depth("n", n)' in source
        assert source.count("for _ in range(n)") == 1  # layer1: every block alike
        assert source.count("for _ in range(n - 1)") == 2  # after a strided first block


# ---- end to end


def test_emitted_depth_builds_what_the_spec_builds(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    cls = emitted_class(archspec.load("cifar/resnet20"), tmp_path)
    x = torch.randn(2, 3, 32, 32)
    for n in (1, 5):
        spec_arch = archspec.load(CIFAR, n=n)
        built = spec_arch.to_torch().eval()
        emitted = cls(n=n).eval()
        shapes = {k: t.shape for k, t in emitted.state_dict().items()}
        assert shapes == {k: t.shape for k, t in built.state_dict().items()}
        assert list(shapes) == list(built.state_dict())
        assert sum(p.numel() for p in emitted.parameters()) == spec_arch.counts.params
        built.load_state_dict(emitted.state_dict(), strict=True)
        with torch.no_grad():
            assert torch.equal(emitted(x), built(x))
    assert len(cls(n=5).layer3) == 5 and len(cls(n=1).layer1) == 1


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_emitted_class_refuses_depths_the_spec_refuses(bad: object, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    with pytest.raises(archspec.SpecError):
        archspec.load(CIFAR, n=bad)
    cls = emitted_class(archspec.load("cifar/resnet20"), tmp_path)
    with pytest.raises(ValueError, match=r"depth n must be a whole number from 1, found"):
        cls(n=bad)


def test_emitted_class_refuses_a_depth_over_the_limit_on_a_count(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from archspec.codegen.checks import check_depth
    from archspec.lower.context import MAX_REPEAT

    assert check_depth.__defaults__ == (MAX_REPEAT,)  # the copy in emitted files is literal
    with pytest.raises(archspec.SpecError, match="E313"):
        archspec.load(CIFAR, n=MAX_REPEAT + 1)
    cls = emitted_class(archspec.load("cifar/resnet20"), tmp_path)
    with pytest.raises(ValueError, match=r"depth n 100,001 is over the limit of 100,000"):
        cls(n=MAX_REPEAT + 1)


def test_torchvision_resnet50_with_n3_23_is_resnet101(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    cls = emitted_class(archspec.load("torchvision/resnet50"), tmp_path)
    emitted = cls(n3=23).eval()
    reference = torchvision.models.resnet101(weights=None).eval()
    weights = reference.state_dict()
    shapes = [(k, t.shape) for k, t in emitted.state_dict().items()]
    assert shapes == [(k, t.shape) for k, t in weights.items()]
    emitted.load_state_dict(weights, strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert (emitted(x) - reference(x)).abs().max().item() <= 1e-5


def test_flax_emitted_depth_builds_what_the_spec_builds(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("flax")
    from flax_helpers import assert_emitted_builds_as_spec

    cls = emitted_class(archspec.load("cifar/resnet20"), tmp_path, "flax")
    assert_emitted_builds_as_spec(cls, archspec.load(CIFAR, n=2, input="3x16x16"), n=2)


@pytest.mark.parametrize("name", ["self", "rngs", "module", "i", "BasicBlock", "check_depth"])
def test_a_depth_named_like_a_name_the_constructor_uses_is_left_out(name: str) -> None:
    arch = archspec.loads(spec(f"  s: basic(8) x {name}\n", params=f"{name}: 2"))
    assert [k.name for k in arch.knobs()] == [name]
    for backend in ("torch", "flax"):
        source = arch.source(backend)  # archspec compiles what it emits: no duplicate self
        assert f"{name}: int" not in source and f'check_depth("{name}"' not in source


def test_a_long_repeat_is_split_as_ruff_keeps_it_at_any_line_length(tmp_path: Path) -> None:
    """Split, a repeat keeps a magic trailing comma: its block's, else one in range()."""
    from emitted_checks import assert_ruff_keeps

    name = "a_depth_parameter_with_a_name_long_enough_to_split_the_line"
    stages = {"relu": f"  s: relu x {name}\n", "basic": f"  s: basic(8) x {name}\n"}
    for kind, stage in stages.items():
        arch = archspec.loads(spec(stage, params=f"{name}: 2").replace("name: t", f"name: {kind}"))
        for backend in ("torch", "flax"):
            source = arch.source(backend)
            assert f"range(\n                    {name},\n" in source or kind == "basic"
            (tmp_path / f"{kind}_{backend}.py").write_text(source)
    assert_ruff_keeps(tmp_path)


# ---- copies named by a template


NAMED = (
    "name: named\ninput: 3x8x8\nparams: {n: 3, m: 2}\n"
    "define: 'block unit(w) = conv(w, 3) bn relu'\n"
    'stem: conv(8, 3) features=unit(16) x n as "unit{n}" more=unit(16) x m as "b{i}-x"\n' + HEAD
)
LONE = NAMED.replace("n: 3", "n: 1").replace("unit(16) x n", "(conv(16, 3) relu) x n")
"""One copy: the class repeats the one the probe adds after it (``Knob.later``)."""


def test_copies_named_by_a_template_are_counted_by_a_knob() -> None:
    assert knobs(NAMED) == {"n": frozenset({"features"}), "m": frozenset({"more"})}
    assert knobs(LONE)["n"] == frozenset({"features"})  # the one copy the probe adds
    # a template with two holes, or one that names a framework attribute at some count
    assert knobs(NAMED.replace('"b{i}-x"', '"b{i}-{n}"')) == {"n": frozenset({"features"})}
    assert knobs(NAMED.replace('"b{i}-x"', '"bfloat{i}"')) == {"n": frozenset({"features"})}
    for backend in ("torch", "flax"):
        source = archspec.loads(NAMED).source(backend)
        assert 'f"unit{i + 1}"' in source and "for i in range(1, n)" in source
        assert 'f"b{i}-x"' in source and "for i in range(m)" in source


@pytest.mark.parametrize("counts", [{"n": 1}, {"n": 4}, {"m": 1, "n": 2}, {"m": 5}])
def test_emitted_named_copies_build_what_the_spec_builds(
    counts: dict[str, int], tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    from torch_helpers import assert_same_network

    cls = emitted_class(archspec.loads(NAMED), tmp_path)
    spec_arch = archspec.loads(NAMED, **counts)
    assert_same_network(cls(**counts), spec_arch.to_torch(), spec_arch.network.input)
    lone = LONE.replace("name: named", "name: lone")
    cls = emitted_class(archspec.loads(lone), tmp_path)
    spec_arch = archspec.loads(lone, **counts)
    assert_same_network(cls(**counts), spec_arch.to_torch(), spec_arch.network.input)


def test_flax_emitted_named_copies_build_what_the_spec_builds(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("flax")
    from flax_helpers import assert_emitted_builds_as_spec

    cls = emitted_class(archspec.loads(NAMED), tmp_path, "flax")
    assert_emitted_builds_as_spec(cls, archspec.loads(NAMED, n=4, m=1), n=4, m=1)


def test_named_copies_are_laid_out_as_ruff_keeps_them(tmp_path: Path) -> None:
    from emitted_checks import assert_ruff_keeps

    long = "a_depth_parameter_with_a_name_long_enough_to_split_the_line"
    texts = {
        "named": NAMED,
        "lone": LONE,
        "long": NAMED.replace("m: 2", f"{long}: 2").replace("x m", f"x {long}"),
    }
    for name, text in texts.items():
        arch = archspec.loads(text.replace("name: named", f"name: {name}"))
        for backend in ("torch", "flax"):
            (tmp_path / f"{name}_{backend}.py").write_text(arch.source(backend))
    assert_ruff_keeps(tmp_path)


# ---- copies inside a class the network class builds

TINY_VIT = {"hidden_dim": 32, "mlp_dim": 64, "num_heads": 2, "patch_size": 8, "num_classes": 10}
IN_CLASSES = """\
name: in_classes
input: 3x8x8
params: {n: 3}
stem: >-
  conv(8, 3)
  e=(add(identity, relu) blocks=(conv(8, 3) relu) x n as "b{i}")
  f=(add(identity, relu) blocks=(conv(8, 3) relu) x 2 as "b{i}")
head: global_avgpool flatten fc(10)
"""
"""``e`` and ``f`` are one class where ``n`` is 2: then ``f`` too would take the count."""


def test_a_depth_inside_a_class_is_an_argument_of_the_class() -> None:
    arch = archspec.load("torchvision/vit_b_16")
    assert "num_layers" in {k.name for k in arch.knobs()}
    for backend in ("torch", "flax"):
        source = arch.source(backend)
        encoder = source[source.index("class EncoderBlock") : source.index("class ViTB16")]
        assert "num_layers: int = 12," in encoder and "for i in range(1, num_layers)" in encoder
        assert "num_layers=num_layers," in source[source.index("class ViTB16") :]
    assert "n: int = 3" in archspec.loads(IN_CLASSES).source("torch")
    assert "n: int" not in archspec.loads(IN_CLASSES, n=2).source("torch")
    # copies in a class's own namespace (a class for its position embedding) are its
    # attributes, not a sequence the class could count
    own = IN_CLASSES.replace("input: 3x8x8", "input: 3x32x32").split("stem:")[0]
    own += "stem: conv(8, 8, stride=8, padding=0) tokens e=((fc(8) relu) x n position_embedding)\n"
    own += "head: token_pool fc(10)\n"
    assert "n: int" not in archspec.loads(own).source("torch")


def test_torchvision_vit_takes_num_layers(tmp_path: Path) -> None:
    """The emitted ViT-B/16 class, small, at other depths: torchvision's weights load
    strictly and give its outputs."""
    torch = pytest.importorskip("torch")
    vision_transformer = pytest.importorskip("torchvision.models.vision_transformer")
    cls = emitted_class(archspec.load("torchvision/vit_b_16", input="3x32x32"), tmp_path)
    for layers in (1, 3):
        reference = vision_transformer.VisionTransformer(
            image_size=32, num_layers=layers, **TINY_VIT
        ).eval()
        emitted = cls(num_layers=layers, **TINY_VIT).eval()
        emitted.load_state_dict(reference.state_dict(), strict=True)
        x = torch.randn(2, 3, 32, 32)
        with torch.no_grad():
            assert (emitted(x) - reference(x)).abs().max().item() <= 1e-5


def test_flax_emitted_depth_inside_a_class_builds_what_the_spec_builds(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("flax")
    from flax_helpers import assert_emitted_builds_as_spec

    arch = archspec.load("torchvision/vit", input="3x32x32")
    cls = emitted_class(arch, tmp_path, "flax")
    values = {**TINY_VIT, "num_layers": 2}
    assert_emitted_builds_as_spec(
        cls, archspec.load("torchvision/vit", input="3x32x32", **values), **values
    )
    other = emitted_class(archspec.loads(IN_CLASSES), tmp_path, "flax")
    assert_emitted_builds_as_spec(other, archspec.loads(IN_CLASSES, n=5), n=5)


def test_vit_b_16_at_vit_l_16s_sizes_is_vit_l_16(tmp_path: Path) -> None:
    """Built on the meta device (no memory): the state_dict layout of torchvision's
    vit_l_16, so its weights load strictly."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    cls = emitted_class(archspec.load("torchvision/vit_b_16"), tmp_path)
    sizes = {"num_layers": 24, "hidden_dim": 1024, "mlp_dim": 4096, "num_heads": 16}
    with torch.device("meta"):
        emitted = cls(**sizes).state_dict()
        reference = torchvision.models.vit_l_16().state_dict()
    assert [(k, t.shape) for k, t in emitted.items()] == [
        (k, t.shape) for k, t in reference.items()
    ]
