"""Coverage-guided fuzzing of archspec.load with atheris (libFuzzer).

Every input is spec text, YAML or .arch (the seeds hold both: specs/ and the error
corpus). Loading must return an Architecture or raise SpecError, whose reports must
render; any other exception is a crash, and libFuzzer's -timeout and -rss_limit_mb make
an input that takes over 2 s or 1 GB one too. Run it as `make fuzz MINUTES=10`; the
inputs it finds are kept in fuzz/corpus/, crashes in fuzz/crashes/.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["archspec"]):
    import archspec
    import archspec.compiler
    import archspec.lower.blocks  # imported on first use: instrumented only if imported here


def one_input(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    try:
        archspec.loads(text)
    except archspec.SpecError as error:
        error.render()
        error.short()
        error.as_json()


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    for warm_up in ("network t\ninput 3x8x8\nstem relu\n", "name: t\ninput: 3x8x8\n"):
        archspec.load(warm_up)  # builds the parser and reads the standard library, once
    atheris.Fuzz()


if __name__ == "__main__":
    main()
