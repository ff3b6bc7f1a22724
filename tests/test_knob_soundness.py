"""Property: a keyword of the emitted network class is exact at every value.

Specs are generated from pieces that read a parameter whole or compute on it, in the
network or in a block (nested, repeated, under a shortcut, in a condition), and from
layers a truth value adds (a switch, with every other keyword changed beside it); for each
keyword archspec finds, the emitted class built at other values must be the network the
spec compiles to at those values: the same state_dict layout, the same settings of the
modules that hold no tensor (rates, kernels, strides), and the same outputs. Where the
class refuses a value (``check_structure``), one of the keyword's guards must be false
there: a structure chosen by a comparison that no longer holds.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import archspec
from archspec import terms
from archspec.diagnostics import SpecError

torch = pytest.importorskip("torch")

WIDTH_USES = [
    "conv(8, 3, groups=a)",
    "conv(a, 1)",
    "conv(8, 3, groups=max(a, 2))",
    "conv(2 * a, 1)",
    "(conv(8, 1) relu) x a",
    "relu if a > 3",
    "maxpool(a, stride=1, padding=0)",
    "conv(8, a)",  # its padding is computed from the kernel: (a - 1) // 2
    "conv(8, a, padding=1)",
    "avgpool(a)",
    "inner(a)",
    "inner(a + 0)",
    "inner(c=a)",
    "conv(a * a, 1)",  # written a**2
    "conv((a + 1) // 2 * 2, 1)",
    "conv(a * 6 // 3, 1) conv(a * 6 // 4, 1)",  # 2 * a exactly; 6 * a // 4 as written
    "conv((a * 3 + 1) // 2 * 5 - (a + 7) // 3 * 2 + a * a * 2, 1)",  # a local of the class
    "conv(make_divisible(a * 3, 8), 1)",  # copied into the file
    "conv(ceil(a * 1.5), 1) conv(8, 1) if a != 3",  # math.ceil; the guard a != 3
    # equal at every value, computed apart: not one argument (resolve's merge)
    "conv(a * 8, 1) conv(make_divisible(a * 8, 8), 3, padding=1)",
    "conv(a * 8, 1) conv(make_divisible(a * 8, 8), 3, padding=1, groups=a * 8)",
]
RATE_USES = ["dropout(r)", "dropout(r / 2)", "dropout(min(r, 0.3))", "relu", "nl", "bn if s"]
NORMS = ["bn(eps=e)", "bn(eps=e * 2)", "conv(8, k)", "conv(8, k, padding=1)", "bn(momentum=e)"]
"""What a ``let`` ``nl`` holds: a layer taking the parameters ``e`` and ``k``."""
INNER = "block inner(c) = conv(c, 1) bn"
SWITCHED = "block sw(t=false) = conv(8, 3) sq=bn if t act=relu"
"""A block a truth value adds a member to (``codegen.optional``)."""
GROW = "block grow(k) = concat(identity, conv(k, 1) relu)"
"""A block whose copies grow the channels (DenseNet's, ``codegen.indexed``)."""
STEMS = [
    "conv(8, 3)",
    "conv(w, 3) bn relu conv(8, 1)",
    "conv(w + w, 3) bn relu conv(8, 1)",
    "conv(8, 3) bn if s relu",  # a switch (codegen/switches.py)
    "conv(w, 3) bn if s relu conv(8, 1)",  # its batch norm reads the width
]
RUNS = [
    "g=b(p, q)",
    "g=b(p, q) x 2",
    "g=b(p, q, nl) x n",
    "g=(conv(8, 1) b(p, q, nl) x n)",
    'g=b(p, q, nl) x n as "u{n}"',  # copies named by a template
    'g=(conv(8, 1) h=b(p, q, nl) x n as "v-{i}")',
    "g=sw(s) x n",  # a switch inside blocks, counted copies of them
    'g=(add(identity, relu) h=b(p, q, nl) x n as "w{i}")',  # counted inside a class
    "g=(add(identity, relu) h=(b(p, q, nl) x n))",
    "g=(conv(w, 1) sw(t=s) b(p, q, nl))",
    "g=((conv(8, 1) bn if s relu) x n)",  # switched layers inside counted copies
    "g=((conv(8, 1) relu dropout(q) if s) x n)",  # at the seam of two copies
    "g=((conv(w, 1) bn if s relu) (conv(8, 1) bn if s relu) x n)",  # reads w, before copies
    "g=b(p, q * i / n, nl) x n",  # copies that read their index and the count (a loop)
    'g=b(p, q * (i + 1) / (n + 1), nl) x n as "u{n}"',
    "g=(conv(8, 1) dropout(q * i) relu) x n",
    'g=grow(p) x n as "d{n}"',  # growing copies: what follows reads the count
    "g=grow(4) x n h=(bn relu conv(8, 1))",
    "g=b(p, q * i / m, nl) x m",  # a count computed from j (codegen/indexed.py)
    'g=b(p, q * (i + 1) / md, nl) x md as "u{n}"',  # from a number: one copy, and more
    "g=(conv(w, 1) b(p, q, nl)) x md",
    "g=b(p, q * i / mf, nl) x mf",  # from two numbers: a family (codegen/computed.py)
]
COUNTS = "m: 'ceil(1.5 * j)', md: 'ceil(3 * d)', mf: 'ceil(3 * d) + j'"
"""Counts computed from numbers, for the runs that read them."""
HEADS = ["fc(10)", "fc(w)", "dropout(q) fc(10)", "fc(w * 3 // 2)", "fc(int(w * 1.5))"]
HEADS += ["dropout(q) if s fc(10)"]
OTHER_VALUES = {int: (1, 2, 3, 5, 8), float: (0.0, 0.1, 0.5, 0.01, 1.4), bool: (True,)}


@st.composite
def specs(draw: Any) -> str:
    uses = draw(st.lists(st.sampled_from(WIDTH_USES), min_size=1, max_size=2))
    last = draw(st.sampled_from(["conv(8, 1)", "conv(4 * a, 1)"]))  # a residual where a is 2
    body = " ".join([*uses, draw(st.sampled_from(RATE_USES)), last])
    residual = draw(st.sampled_from(["", " + shortcut -> relu", " + identity"]))
    option = draw(st.sampled_from(["B", "same"]))
    p = draw(st.sampled_from([2, 3, 4]))  # a kernel of 3 looks like one of 4: padding 1
    return (
        f"name: t\ninput: 3x8x8\nshortcut: {option}\n"
        f"params: {{n: 2, p: {p}, q: 0.25, w: 8, e: 0.001, k: 3, s: false, j: 2, d: 0.3}}\n"
        f"let: {{nl: '{draw(st.sampled_from(NORMS))}', {COUNTS}}}\n"
        f"define: |\n  {INNER}\n  {SWITCHED}\n  {GROW}\n"
        f"  block b(a, r, nl=relu) = {body}{residual}\n"
        f"stem: {draw(st.sampled_from(STEMS))} {draw(st.sampled_from(RUNS))}"
        f" {draw(st.sampled_from(['', 'nl']))}\n"
        f"head: pool=global_avgpool flatten=flatten fc={draw(st.sampled_from(HEADS))}\n"
    )


counter = itertools.count()
FIRST_COPY_APART = (  # found by CI: a count's first copy is written apart, and its class
    # joins conv(8, 1) and conv(4 * a, 1) (equal where a is 2) in one argument that j,
    # the count's parameter, changes neither of (formulas.same_expression)
    "name: t\ninput: 3x8x8\nshortcut: B\n"
    "params: {n: 2, p: 2, q: 0.25, w: 8, e: 0.001, k: 3, s: false, j: 2, d: 0.3}\n"
    f"let: {{nl: 'bn(eps=e)', {COUNTS}}}\n"
    f"define: |\n  {INNER}\n  {SWITCHED}\n  {GROW}\n"
    "  block b(a, r, nl=relu) = (conv(8, 1) relu) x a dropout(r) conv(4 * a, 1)\n"
    "stem: conv(8, 3) g=b(p, q * i / m, nl) x m \n"
    "head: pool=global_avgpool flatten=flatten fc=fc(10)\n"
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
@example(text=FIRST_COPY_APART)
def test_every_keyword_builds_the_spec_at_other_values(tmp_path_factory: Any, text: str) -> None:
    from torch_helpers import assert_same_network, import_file

    try:
        arch = archspec.loads(text)
    except SpecError:
        return  # a combination the language refuses (groups that do not divide, ...)
    knobs = arch.knobs()
    if not knobs:
        return
    path = Path(tmp_path_factory.mktemp("knobs")) / "t_torch.py"
    path.write_text(arch.source("torch"))
    emitted_class = import_file(path, f"soundness_{next(counter)}").T
    cases = [{k.name: value} for k in knobs for value in OTHER_VALUES[type(k.default)]]
    for switch in (k for k in knobs if k.conditionals):  # with another keyword changed too
        cases += [
            {switch.name: True, k.name: OTHER_VALUES[type(k.default)][1]}
            for k in knobs
            if k is not switch and type(k.default) is not bool
        ]
    for changed in cases:
        try:
            spec = archspec.loads(text, **changed)
        except SpecError:
            continue
        values = {**arch.arguments, **changed}
        guards = [g for k in knobs if k.name in changed for g in k.guards]
        broken = [g for g in guards if not terms.value_at(g, values)]
        try:
            emitted = emitted_class(**changed)
        except ValueError as refusal:
            assert broken and "changes the network's structure" in str(refusal)
            continue
        assert not broken, "a guard that does not hold was not checked"
        torch.manual_seed(0)
        assert_same_network(emitted, spec.to_torch(), spec.network.input)
