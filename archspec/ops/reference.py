"""The layer reference of docs/language.md, generated from the registry (a test keeps
the two equal: ``archspec reference`` prints it)."""

from __future__ import annotations

from archspec.ops.registry import language_ops

FAMILIES = ("conv", "norm", "activation", "pool", "structure", "linear", "tokens", "attention")
"""The order of the reference: by family (the module an op is defined in), then as
registered; ops registered from elsewhere come last."""


def _family(module: str) -> int:
    name = module.rsplit(".", 1)[-1]
    return FAMILIES.index(name) if name in FAMILIES else len(FAMILIES)


def reference_markdown() -> str:
    lines = ["| layer | argument | default | meaning |", "|---|---|---|---|"]
    ops = sorted(language_ops().values(), key=lambda op: _family(op.__module__))
    for op in ops:
        lines.append(f"| `{op.NAME}` | | | {op.DOC} |")
        for argument in op.ARGUMENTS:
            lines.append(
                f"| | `{argument.name}` | {argument.describe_default()} | {argument.doc} |"
            )
    return "\n".join(lines) + "\n"
