"""The layer reference of docs/language.md, generated from the registry (a test keeps
the two equal: ``archspec reference`` prints it)."""

from __future__ import annotations

from archspec.ops.registry import language_ops


def reference_markdown() -> str:
    lines = ["| layer | argument | default | meaning |", "|---|---|---|---|"]
    for op in language_ops().values():
        lines.append(f"| `{op.NAME}` | | | {op.DOC} |")
        for argument in op.ARGUMENTS:
            lines.append(
                f"| | `{argument.name}` | {argument.describe_default()} | {argument.doc} |"
            )
    return "\n".join(lines) + "\n"
