"""Repeat counts outside stages as keywords of the emitted class: a run of copies in a
stem's group (``features=(... (conv(256, 3) relu) x n3 ...)``, VGG's layout, where the
copies sit flat among the other members) or a named repeat nested in groups (timm's
``stages.0.blocks``). ``VGG13(n3=3, n4=3, n5=3)`` is torchvision's VGG-16. The rule is
the stages' (``archspec.codegen.knobs``); see ``test_depth_knobs``. Cost, alone on one
core: about 12 s, most of it torchvision's VGG-16 built twice (its 138M parameters drawn)
and the Flax model compiled once."""

from __future__ import annotations

from pathlib import Path

import pytest
from emitted_checks import assert_ruff_keeps

import archspec

HEAD = "head: pool=global_avgpool flatten=flatten fc=fc(10)\n"


def spec(stem: str, params: str = "n: 2") -> str:
    return f"name: t\ninput: 3x8x8\nparams: {{{params}}}\nstem: {stem}\n{HEAD}"


def knobs(text: str) -> dict[str, frozenset[str]]:
    """Each knob of a spec: the groups holding the runs it counts (none for a width)."""
    return {k.name: k.groups for k in archspec.loads(text).knobs()}


FLAT = "features=(conv(4, 3) (conv(8, 3) bn relu) x n maxpool(2))"
"""Copies of three members each, flat among the group's other members; the first
copy takes 4 channels, the others 8."""


# ---- the rule


def test_shipped_repeats_outside_stages_are_knobs() -> None:
    widths: dict[str, list[str]] = {"num_classes": [], "in_channels": []}
    for name in ("vgg11", "vgg16"):  # VGG-11's first two groups hold one convolution
        vgg = {k.name: sorted(k.groups) for k in archspec.load(name).knobs()}
        switch: dict[str, list[str]] = {"batch_norm": []}  # tests/test_switch_knobs.py
        assert vgg == {f"n{i}": ["features"] for i in range(1, 6)} | widths | switch
    resnetv2 = {k.name: sorted(k.groups) for k in archspec.load("timm/resnetv2_50").knobs()}
    depths = {f"depth{i + 1}": [f"stages.{i}.blocks"] for i in range(4)}
    assert resnetv2 == depths | widths


def test_a_run_anywhere_in_the_network_class_is_a_knob() -> None:
    assert knobs(spec(FLAT)) == {"n": frozenset({"features"})}
    assert knobs(spec("g=(conv(8, 3) (relu) x n)")) == {"n": frozenset({"g"})}
    assert knobs(spec("g=(conv(8, 3) relu x n)")) == {"n": frozenset({"g"})}
    assert knobs(spec("g=(h=(conv(8, 3) b=basic(8) x n))")) == {"n": frozenset({"g.h.b"})}
    # two runs of one count in one group, each its own repeat
    assert knobs(spec("g=(conv(8, 3) relu x n conv(4, 1) relu x n)")) == {"n": {"g"}}


def test_a_run_of_one_copy_repeats_the_copy_its_probe_adds() -> None:
    # one copy taking 4 channels: every later copy takes 8, as the probe's second does
    assert knobs(spec(FLAT, "n: 1")) == {"n": frozenset({"features"})}
    source = archspec.loads(spec(FLAT, "n: 1")).source("torch")
    assert "for _ in range(n - 1)" in source and "nn.Conv2d(8, 8, kernel_size=3" in source
    # a second copy that is no fixed point: the third would differ again
    assert knobs(spec("g=(conv(8, 3) (maxpool(2)) x n)", "n: 1")) == {}
    # a second copy that is a block instance unlike the first (8 to 8 channels, the first
    # projects from 4): classes are resolved from the network's own instances
    assert knobs(spec("g=(conv(4, 3) b=basic(8) x n)", "n: 1")) == {}
    assert knobs(spec("g=(conv(4, 3) b=basic(8) x n)", "n: 2")) == {"n": {"g.b"}}


def test_a_run_the_class_cannot_write_as_a_repeat_is_no_knob() -> None:
    # unnamed copies at the top level are members of the network class itself
    assert knobs(spec("conv(8, 3) (conv(8, 3) relu) x n")) == {}
    # copies named by a template: with one hole a knob (tests/test_depth_knobs.py), with
    # two no rule shows that every count names modules the frameworks accept
    assert knobs(spec('conv(8, 3) b=basic(8) x n as "block{n}"')) == {"n": {"b"}}
    assert knobs(spec('conv(8, 3) b=basic(8) x n as "block{i}_{n}"')) == {}
    # copies that read their index, or a count read elsewhere too
    assert knobs(spec("g=(conv(8, 3) (conv(8 if i < 5 else 4, 1)) x n)")) == {}
    assert knobs(spec("g=(conv(8, 3) (conv(8, 3) relu) x n conv(n, 1))", "n: 8")) == {}
    # a run inside a run: the outer count is no knob, the inner one is
    assert knobs(spec("g=(conv(8, 3) ((relu) x m relu) x n)", "n: 2, m: 2")) == {"m": {"g"}}
    # copies that keep changing: 8 -> 16 -> 32 -> 32 ...
    doubles = "define: 'block double(most) = conv(min(in_channels * 2, most), 1)'\n"
    assert knobs(doubles + spec("g=(conv(8, 3) double(64) x n)")) == {}


def test_a_width_in_a_later_copy_leaves_the_width_out() -> None:
    found = knobs(spec("g=(conv(8, 3) conv(w, 1) x n)", "n: 2, w: 8"))
    assert found == {"n": frozenset({"g"})}  # w is in every copy: the count wins
    # a width in the first copy only (the input channels) stays a keyword
    assert set(knobs(spec("g=(conv(w, 3) conv(8, 1) x n)", "n: 2, w: 8"))) == {"n", "w"}
    # in a lone copy, what the width does to the later copies is not seen: left out
    lone = spec("g=(conv(8, 3) (conv(w, 1) relu) x n)", "n: 1, w: 8")
    assert knobs(lone) == {"n": frozenset({"g"})}
    assert knobs(spec("g=(conv(4, 3) (conv(w, 1) relu) x n)", "n: 1, w: 8")) == {"n": {"g"}}
    assert knobs(spec("g=(conv(w, 3) (bn relu) x n)", "n: 1, w: 8")) == {"n": {"g"}}
    # but a width that sets only a lone copy's input channels is one: the copy opens the
    # run, written apart from the later copies (VGG-11's in_channels)
    opens = spec("g=(conv(w, 3) (conv(8, 3) relu) x n)", "n: 1, w: 8")
    assert set(knobs(opens)) == {"n", "w"}
    source = archspec.loads(opens).source("torch")
    assert "nn.Conv2d(w, 8, kernel_size=3" in source and "for _ in range(n - 1)" in source
    stage = "name: t\ninput: 3x8x8\nparams: {n: 1, w: 8}\nstem: conv(8, 3)\n"
    assert knobs(stage + "stages:\n  s: conv(w, 1) x n\n" + HEAD) == {"n": frozenset({"s"})}


def test_copies_are_alike_only_where_every_field_is() -> None:
    """``knobs.alike`` compares every field of the copies on traced numbers, a copy that
    is one layer included (a walk lists what is below a module, not the module: before
    this was mended, two convolutions of different widths compared as alike)."""
    from archspec.codegen.knobs import alike

    traced = archspec.loads(spec("g=(conv(w, 1) conv(8, 1) conv(8, 1))", "w: 8")).traced
    assert traced is not None
    assert not alike(traced.network, ["g.1", "g.2"])  # Conv2d(w, 8) and Conv2d(8, 8)
    assert alike(traced.network, ["g.2", "g.2"])


def test_the_emitted_source_writes_each_run_once() -> None:
    source = archspec.load("vgg16").source("torch")
    assert 'check_depth("n3", n3)' in source and "n1: int = 2," in source
    assert source.count("for module in (") == 5  # every group's copies after its first
    assert source.count("for _ in range(n") == 5


def test_runs_are_laid_out_as_ruff_keeps_them(tmp_path: Path) -> None:
    long = "a_count_with_a_name_long_enough_to_split_the_line_of_its_repeat"
    texts = {"flat": spec(FLAT), "long": spec(FLAT.replace("x n", f"x {long}"), f"{long}: 2")}
    for kind, text in texts.items():
        arch = archspec.loads(text.replace("name: t", f"name: {kind}"))
        for backend in ("torch", "flax"):
            (tmp_path / f"{kind}_{backend}.py").write_text(arch.source(backend))
    assert_ruff_keeps(tmp_path)


# ---- end to end


@pytest.mark.parametrize("default", [1, 2])
def test_emitted_runs_build_what_the_spec_builds(default: int, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from test_depth_knobs import emitted_class

    text = spec(FLAT, f"n: {default}")
    cls = emitted_class(archspec.loads(text), tmp_path)
    x = torch.randn(2, 3, 8, 8)
    for n in (1, 4):
        spec_arch = archspec.loads(text, n=n)
        built = spec_arch.to_torch().eval()
        emitted = cls(n=n).eval()
        shapes = [(k, t.shape) for k, t in emitted.state_dict().items()]
        assert shapes == [(k, t.shape) for k, t in built.state_dict().items()]
        built.load_state_dict(emitted.state_dict(), strict=True)
        with torch.no_grad():
            assert torch.equal(emitted(x), built(x))
    assert len(cls(n=4).features) == 1 + 3 * 4 + 1
    with pytest.raises(ValueError, match="depth n must be a whole number from 1"):
        cls(n=0)


def test_a_count_and_a_width_together_build_what_the_spec_builds(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from test_depth_knobs import emitted_class

    text = spec("g=(conv(w, 3) (conv(8, 3) relu) x n)", "n: 1, w: 8")
    cls = emitted_class(archspec.loads(text), tmp_path)
    x = torch.randn(1, 3, 8, 8)
    for n, w in ((1, 8), (3, 16), (2, 4)):
        built = archspec.loads(text, n=n, w=w).to_torch().eval()
        emitted = cls(n=n, w=w).eval()
        built.load_state_dict(emitted.state_dict(), strict=True)
        with torch.no_grad():
            assert torch.equal(emitted(x), built(x))


def test_nested_runs_build_what_the_spec_builds(tmp_path: Path) -> None:
    """timm's layout: the copies are ``stages.1.blocks``, inside two plain groups."""
    torch = pytest.importorskip("torch")
    from test_depth_knobs import emitted_class

    cls = emitted_class(archspec.load("timm/resnetv2_18"), tmp_path)
    depths = {"depth1": 1, "depth2": 3, "depth3": 1, "depth4": 1}
    emitted = cls(**depths).eval()
    built = archspec.load("timm/resnetv2_18", input="3x32x32", **depths).to_torch().eval()
    assert [(k, t.shape) for k, t in emitted.state_dict().items()] == [
        (k, t.shape) for k, t in built.state_dict().items()
    ]
    built.load_state_dict(emitted.state_dict(), strict=True)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(emitted(x), built(x))
    assert len(emitted.stages[1].blocks) == 3


def test_vgg13_with_three_convolutions_a_group_is_torchvisions_vgg16(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    from test_depth_knobs import emitted_class

    cls = emitted_class(archspec.load("vgg13"), tmp_path)
    emitted = cls(n3=3, n4=3, n5=3, num_classes=10).eval()
    reference = torchvision.models.vgg16(weights=None, num_classes=10).eval()
    weights = reference.state_dict()
    assert [(k, t.shape) for k, t in emitted.state_dict().items()] == [
        (k, t.shape) for k, t in weights.items()
    ]
    emitted.load_state_dict(weights, strict=True)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert (emitted(x) - reference(x)).abs().max().item() <= 1e-5


def test_flax_emitted_runs_build_what_the_spec_builds(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("flax")
    from flax_helpers import assert_emitted_builds_as_spec, emitted_class

    text = spec(FLAT, "n: 1")  # the later copies from the probe's second
    cls = emitted_class(archspec.loads(text), tmp_path)
    assert_emitted_builds_as_spec(cls, archspec.loads(text, n=3), n=3)
