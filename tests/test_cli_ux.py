"""The command line as users meet it: version, completion, choices, full tables in pipes,
JSON for summary and diff, examples in --help, progress bars on terminals only."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import pytest
from rich.console import Console
from typer.testing import CliRunner

import archspec
from archspec.backends import BACKENDS
from archspec.cli import common
from archspec.cli.app import app
from archspec.cli.build import Backend

runner = CliRunner()
COMMANDS = ("check", "flops", "schema", "reference", "graph", "summary", "diff", "build")
COMMANDS += ("export", "convert", "train", "eval", "experiment")


def invoke(*args: str, **kwargs: object):  # noqa: ANN201
    return runner.invoke(app, list(args), **kwargs)  # type: ignore[arg-type]


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0 and result.output == f"archspec {archspec.__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", archspec.__version__)


def test_shell_completion_is_on() -> None:
    """The protocol the installed script speaks (``--show-completion`` detects the shell
    from the parent processes, which a test worker may not have)."""
    assert "--install-completion" in invoke("--help").output
    words = {"_ARCHSPEC_COMPLETE": "complete_bash", "COMP_WORDS": "archspec fl", "COMP_CWORD": "1"}
    completed = invoke(prog_name="archspec", env=words)
    assert (completed.exit_code, completed.output) == (0, "flops\n"), completed.exception


def test_backends_are_choices() -> None:
    assert {backend.value for backend in Backend} == set(BACKENDS)
    bad = invoke("convert", "specs/cifar/resnet20.yaml", "a.pt", "b", "--from", "tf")
    assert bad.exit_code == 2 and "'tf' is not one of 'torch', 'flax'" in bad.output
    same = invoke(
        "convert", "specs/cifar/resnet20.yaml", "a", "b", "--from", "flax", "--to", "flax"
    )
    assert same.exit_code == 2 and "convert goes between torch and flax" in same.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_shows_usage_examples(command: str) -> None:
    help_text = invoke(command, "--help").output
    examples = help_text[help_text.index("Examples:") :].splitlines()[1:]
    lines = [line.strip() for line in examples if line.strip()]
    assert lines and lines[0].startswith(f"archspec {command} ")


def test_tables_are_whole_in_a_narrow_pipe() -> None:
    """--fvcore --per-layer is wider than 80 columns: nothing may be cut off in a log."""
    arguments = ["flops", "specs/vgg11.yaml", "--fvcore", "--per-layer"]
    (record,) = json.loads(invoke(*arguments, "--json").output)
    for run in (
        invoke(*arguments, env={"COLUMNS": "40"}).output,
        subprocess.run(
            [sys.executable, "-m", "archspec", *arguments],
            capture_output=True,  # a pipe
            text=True,
            env={**os.environ, "COLUMNS": "40"},
            check=True,
        ).stdout,
    ):
        assert "…" not in run
        assert "132,863,336" in run
        for layer in record["layers"]:
            assert re.search(rf"│ +{re.escape(layer['path'])} +│", run), layer["path"]
            assert f"{layer['params']:,}" in run


def test_summary_json_and_batch() -> None:
    result = invoke(
        "summary", "specs/cifar/resnet20.yaml", "--json", "--depth", "1", "--batch", "8"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["name"], data["input"], data["output"]) == ("resnet20", [3, 32, 32], [10])
    assert sum(row["params"] or 0 for row in data["rows"]) == data["totals"]["params"] == 269_722
    assert sum(row["macs"] or 0 for row in data["rows"]) == data["totals"]["macs"]
    assert data["rows"][3] == {
        "path": "layer1",
        "depth": 0,
        "op": "stage",
        "output": [16, 32, 32],
        "params": None,
        "macs": None,
    }
    memory = archspec.load("specs/cifar/resnet20.yaml").memory(8)
    assert data["memory"] == memory.as_dict()
    text = invoke("summary", "specs/cifar/resnet20.yaml", "--batch", "8").output
    assert "Memory at batch 8, 4 bytes an element (MB = 10^6 bytes):" in text
    assert invoke("summary", "specs/cifar/resnet20.yaml", "--batch", "0").exit_code == 2


def test_diff_json() -> None:
    result = invoke("diff", "specs/plain34.yaml", "specs/torchvision/resnet34.yaml", "--json")
    data = json.loads(result.output)
    assert data["params"] == {"a": 21_623_848, "b": 21_797_672, "delta": 173_824}
    assert data["macs"]["delta"] == 19_267_584
    layer2 = next(s for s in data["sections"] if s["name"] == "layer2")
    assert layer2["params"]["delta"] == 8_448 and layer2["output_b"] == [128, 28, 28]
    first = layer2["changes"][0]
    assert (first["path_a"], first["params"], first["macs"]) == ("layer2.0", 8_448, 6_422_528)
    assert sum(s["params"]["delta"] for s in data["sections"]) == data["params"]["delta"]


def test_progress_bars_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for terminal in (True, False):
        screen = io.StringIO()
        console = Console(file=screen, force_terminal=terminal, width=100)
        monkeypatch.setattr(common, "stderr", console)
        with common.progress(2) as step:
            step("compiling the spec")
            step("writing the module")
        assert ("writing the module" in screen.getvalue()) is terminal
    built = invoke("build", "specs/cifar/resnet20.yaml", "-o", "-")
    assert "compiling" not in built.output and built.output.startswith('"""')


@pytest.mark.parametrize("framework", ["", "torch"])
def test_a_command_without_a_framework_skips_teardown(framework: str) -> None:
    """``main`` ends a framework-free command at once, after flushing its output; with a
    framework loaded, exit handlers run as usual (they may stop worker processes)."""
    if framework:
        pytest.importorskip(framework)
    code = (
        f"import atexit, sys{', ' + framework if framework else ''}\n"
        "from archspec.cli.app import main\n"
        "atexit.register(lambda: print('exit handlers ran'))\n"
        "sys.argv = ['archspec', 'check', 'cifar/resnet20', 'no_such_spec']\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    assert "cifar/resnet20: ok" in done.stdout and "no_such_spec" in done.stderr
    assert ("exit handlers ran" in done.stdout) == bool(framework)
