"""Names in emitted code: identifiers, class names, and argument names made from paths."""

from __future__ import annotations

import keyword


def identifier(name: str) -> bool:
    """A Python identifier that is not a keyword."""
    return name.isidentifier() and not keyword.iskeyword(name)


def camel_case(name: str, fallback: str = "Net") -> str:
    """``resnet18`` -> ``Resnet18``; ``preact_basic`` -> ``PreactBasic``."""
    words = "".join(c if c.isalnum() else " " for c in name).split()
    text = "".join(word[:1].upper() + word[1:] for word in words)
    return text if text[:1].isalpha() else fallback + text


def argument_name(path: str, field: str) -> str:
    """A constructor argument for one field of one member: ``conv2_padding``, or
    ``stride_0`` where the member is numbered (``0_stride`` is not an identifier).
    Module names are identifiers or numbers (lowering checks), so the result is one."""
    joined = path.replace(".", "_")
    return f"{joined}_{field}" if joined[:1].isalpha() else f"{field}_{joined}"
