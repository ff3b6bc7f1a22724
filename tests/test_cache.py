"""The compiler's caches: a spec loaded again, or with other parameters, skips work, and
an edited file, the spec's own or one it extends, is never missed."""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec
from archspec.compiler import COMPILED, TREES
from archspec.diagnostics import SpecError

BASE = """\
name: base
input: 3x32x32
params: {width: 8, classes: 10}
stem: conv(width, 3) bn relu
head: global_avgpool flatten fc(classes)
"""


@pytest.fixture
def preset(tmp_path: Path) -> Path:
    (tmp_path / "base.yaml").write_text(BASE)
    spec = tmp_path / "preset.yaml"
    spec.write_text("extends: base.yaml\nname: preset\nparams: {width: 16}\n")
    return spec


def test_a_spec_that_extends_another_is_loaded_again_from_the_cache(preset: Path) -> None:
    first = archspec.load(preset)
    assert archspec.load(preset) is first
    assert archspec.load(preset, classes=5) is not first


def test_an_edited_base_is_read_again(preset: Path) -> None:
    before = archspec.load(preset)
    base = preset.parent / "base.yaml"
    base.write_text(BASE.replace("conv(width, 3)", "conv(width, 5)"))
    after = archspec.load(preset)
    assert after is not before
    assert after.counts.params > before.counts.params
    assert archspec.load(preset, classes=5).counts.params > before.counts.params


def test_a_base_that_is_gone_is_an_error_again(preset: Path) -> None:
    archspec.load(preset)
    (preset.parent / "base.yaml").unlink()
    with pytest.raises(SpecError, match="cannot read"):
        archspec.load(preset)


def test_a_sweep_reads_the_yaml_once(preset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from archspec.frontend.yamlfile import YamlReader

    reads = []
    real_read = YamlReader.read
    monkeypatch.setattr(YamlReader, "read", lambda self: reads.append(1) or real_read(self))
    widths = [archspec.load(preset, classes=k).counts.params for k in (2, 3, 4)]
    assert len(reads) == 1
    assert widths[1] - widths[0] == widths[2] - widths[1] == 16 + 1  # one more fc row


def test_a_spec_with_an_error_reports_it_every_time(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(BASE.replace("input: 3x32x32\n", "input: 3x32x32\nwidht: 3\n"))
    for _ in range(2):
        with pytest.raises(SpecError) as error:
            archspec.load(spec)
        assert [d.code for d in error.value.diagnostics] == ["E202"]


def test_the_caches_are_bounded(tmp_path: Path) -> None:
    for k in range(COMPILED.size + 5):
        archspec.loads(BASE.replace("name: base", f"name: net{k}"))
    assert len(COMPILED.entries) == COMPILED.size
    assert len(TREES.entries) <= TREES.size


NESTED = """\
name: nested
input: 3x16x16
params: {classes: 10, width: 8}
define: |
  block inner(c) = conv(c, 3) bn relu nothing_here(c) if false
  block outer(c) = inner(c) inner(c)
stem: conv(width, 3)
stages:
  s: outer(width) x 2
head: global_avgpool flatten fc(classes)
"""


def test_a_sweep_reuses_the_blocks_built_before(monkeypatch: pytest.MonkeyPatch) -> None:
    from archspec.lower import blocks

    builds = []
    real_build = blocks.build_block
    monkeypatch.setattr(
        blocks, "build_block", lambda *args: builds.append(args[1].name) or real_build(*args)
    )
    first = archspec.loads(NESTED)
    assert sorted(set(builds)) == ["inner", "outer"]
    builds.clear()
    other = archspec.loads(NESTED, classes=3)  # another head, the same blocks
    assert builds == []
    blocks_of = [net.network.stages()[0][1].members[0].node for net in (first, other)]
    assert blocks_of[0] is blocks_of[1]
    # `inner` was marked used though its build was skipped: its untaken item is not
    # checked as an unused definition's would be (nothing_here is no layer)
    assert other.counts.params - first.counts.params == -7 * (8 + 1)
    wider = archspec.loads(NESTED, width=16)  # other blocks: built, and counted anew
    assert sorted(set(builds)) == ["inner", "outer"]
    COMPILED.clear()
    TREES.clear()
    assert archspec.loads(NESTED, width=16).counts == wider.counts


def test_an_unused_definition_is_still_checked_after_a_sweep() -> None:
    unused = NESTED.replace("  s: outer(width) x 2\n", "  s: basic(width) x 2\n")
    for classes in (10, 11):
        with pytest.raises(SpecError, match="nothing_here"):
            archspec.loads(unused, classes=classes)
