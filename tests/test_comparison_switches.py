"""A number one comparison of which adds layers, as a keyword (``codegen/comparisons.py``):
``dropout(p) if p > 0`` gives ``*((nn.Dropout(p=p),) if p > 0 else ())``. Every class is
built on both sides of its comparison, beside the other keywords, and compared with the
spec compiled there; what the rule refuses is a comparison the file could not decide."""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec

SPEC = """\
name: t
input: 3x16x16
params: {{p: {p}, n: 2, w: 8}}
stem: features=((conv(8, 3) bn if p > 0 relu) x n) c=conv(w, 1)
head: pool=global_avgpool classifier=(flatten dropout(p) if p > 0 fc(10))
"""

CUSTOM = (  # a numbered sequence the network class builds: a switch adds layers there
    "name: t\ninput: 3x16x16\nparams: {{{params}}}\nstem: features=({body})\n"
    "head: global_avgpool flatten fc(10)\n"
)


def keywords(text: str) -> set[str]:
    return {k.name for k in archspec.loads(text).knobs()}


@pytest.mark.parametrize("default", ["0.0", "0.3"])
def test_a_rate_compared_with_zero_is_one_class_for_both_sides(
    default: str, tmp_path: Path
) -> None:
    """From either side (no dropout at 0.0; at 0.3 the network's own dropout reads ``p``),
    the class builds the spec at a rate on each side, alone and beside the depth and the
    width; the added batch norms stand in the counted copies too."""
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    text = SPEC.format(p=default)
    arch = archspec.loads(text)
    assert keywords(text) == {"p", "n", "w"}
    source = arch.source("torch")
    assert "*((nn.Dropout(p=p),) if p > 0 else ())," in source
    assert "*((nn.BatchNorm2d(8),) if p > 0 else ())," in source
    assert "check_structure" not in source  # both sides are built, neither refused
    cls = emitted_class(arch, tmp_path)
    for values in ({"p": 0.0}, {"p": 0.7}, {"p": 0.25, "n": 3, "w": 12}, {"p": 0.0, "n": 1}):
        built = archspec.loads(text, **values).to_torch()
        assert_same_network(cls(**values), built, (3, 16, 16))
        norms = sum(type(m).__name__ == "BatchNorm2d" for m in built.modules())
        assert norms == (values.get("n", 2) if values["p"] > 0 else 0)  # not vacuous


def test_flax_writes_the_same_comparison(tmp_path: Path) -> None:
    pytest.importorskip("flax")
    from flax_helpers import assert_emitted_builds_as_spec
    from test_depth_knobs import emitted_class

    arch = archspec.loads(SPEC.format(p="0.0"))
    assert "*((nnx.Dropout(p, rngs=rngs),) if p > 0 else ())," in arch.source("flax")
    cls = emitted_class(arch, tmp_path, "flax")
    for values in ({"p": 0.5, "n": 3}, {"p": 0.0, "w": 4}):
        assert_emitted_builds_as_spec(cls, arch.with_parameters(**values), **values)


@pytest.mark.parametrize(
    ("params", "body", "expected"),
    [
        ("k: 0", "conv(8, 3) bn if k >= 1 relu conv(8, 1)", True),  # whole: k = 1
        ("k: 2", "conv(8, 3) bn if k == 2 relu conv(8, 1)", True),  # == flips at 3
        ("p: 0.5", "conv(8, 3) relu dropout(p / 2) if p < 1 conv(8, 1)", True),  # p / 2
        ("p: 0.0, q: 0.0", "conv(8, 3) bn if p > q relu", False),  # reads two parameters
        ("p: 0.0", "conv(8, 3) bn if p > 0 relu dropout(0.5) if p > 0.5", False),  # two
        ("p: 0.0, n: 2", "(conv(8, 3) dropout(0.1) relu) x n conv(8, 3) bn if p > 0 relu", True),
        ("p: 0.0, n: 2", "(conv(8, 3) dropout(p) relu) x n conv(8, 3) bn if p > 0 relu", False),
        ("p: 0.25, n: 2", "(conv(8, 3) relu) x n conv(8, 3) dropout(p) if p < 0.5 relu", True),
        ("p: 0.0", "conv(8, 3) bn if p > 0 relu dropout(p)", False),  # in a member both hold
        ("p: 0.0", "conv(8, 3) relu drop=dropout(p) if p > 0", False),  # named: "2" at 0.0
        ("p: 0.0", "c=conv(8, 3) relu drop=dropout(p / 4) if p > 0", True),  # a named item
        ("p: 0.0", "conv(16 if p > 0 else 8, 3) relu", False),  # a width, not a layer
    ],
)
def test_a_comparison_is_a_keyword_only_where_the_file_decides_it(
    params: str, body: str, expected: bool, tmp_path: Path
) -> None:
    """Where the rule takes the number, the class is built on both sides of its
    comparison and compared; where it refuses, the reason is one the docstring of
    codegen/comparisons.py gives (a second comparison, a second parameter, a field in
    copies a depth counts or in a member both sides hold, a member named apart, a width
    that is no layer)."""
    pytest.importorskip("torch")
    from test_depth_knobs import emitted_class
    from torch_helpers import assert_same_network

    text = CUSTOM.format(params=params, body=body)
    name = params.split(":")[0]
    assert (name in keywords(text)) is expected
    if expected:
        cls = emitted_class(archspec.loads(text), tmp_path)
        default = archspec.loads(text).arguments[name]
        assert isinstance(default, int | float)
        halved = (default / 2,) if type(default) is float else ()  # a rate on its side
        for value in (default, default + 1, default + 2, *halved):
            built = archspec.loads(text, **{name: value}).to_torch()
            assert_same_network(cls(**{name: value}), built, (3, 16, 16))


def test_archspec_build_writes_the_switch_for_a_spec_file(tmp_path: Path) -> None:
    """End to end from the command line: a spec file with a rate compared in a head of
    named members, ``archspec build -o``, the file imported and built on both sides."""
    pytest.importorskip("torch")
    from torch_helpers import assert_same_network, built_with_cli

    spec = tmp_path / "head.yaml"
    spec.write_text(
        "name: head\ninput: 3x16x16\nparams: {p: 0.0}\n"
        "stem: conv1=conv(8, 3) act=relu\n"
        "head: pool=global_avgpool flatten=flatten drop=dropout(p) if p > 0 fc=fc(10)\n"
    )
    text, cls = built_with_cli(spec)
    assert "        if p > 0:\n            self.drop = nn.Dropout(p=p)\n" in text
    for rate in (0.0, 0.4):
        built = archspec.load(str(spec), p=rate).to_torch()
        assert_same_network(cls(p=rate), built, (3, 16, 16))
        assert hasattr(built, "drop") is (rate > 0)
