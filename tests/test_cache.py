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
