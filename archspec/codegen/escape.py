"""Spec text into Python source: the one place where it happens, safe for any text.

A spec is untrusted data, and the emitted module is imported. So nothing from a spec is
pasted into source as it is: a name goes in as code only when it is a valid identifier
(``identifier`` raises otherwise), and every other text goes in as a string literal
(``string``) or inside a docstring or comment (``docstring_line``, ``comment_line``),
escaped so that it can neither end the literal nor start a new line. Characters that
``str.isprintable`` rejects (controls, NUL, line and paragraph separators, bidi and other
format characters, unpaired surrogates, unusual spaces) never reach the file raw: in
literals they are Python escapes, in prose they are shown as the same escapes, so that
``help(model)`` cannot send control sequences to a terminal either.
"""

from __future__ import annotations

import keyword
import math
import re
import unicodedata

SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


class UnsafeName(ValueError):
    """A name that cannot be written as Python code: the emitter must not go on."""


def is_identifier(name: str) -> bool:
    """A Python identifier that is not a keyword and that the parser keeps as written
    (Python folds identifiers to NFKC: ``ｆｏｒｗａｒｄ`` would be ``forward``)."""
    return (
        name.isidentifier()
        and not keyword.iskeyword(name)
        and unicodedata.normalize("NFKC", name) == name
    )


def identifier(name: str) -> str:
    """``name`` itself, to be written as code; anything else is refused."""
    if not is_identifier(name):
        raise UnsafeName(f"{visible(name)!r} is not a Python identifier")
    return name


def escaped(char: str) -> str:
    """The Python escape of one character: ``\\n``, ``\\x1b``, ``\\u202e``, ``\\udcff``."""
    if char in SHORT_ESCAPES:
        return SHORT_ESCAPES[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str) -> str:
    """``text`` with every non-printable character shown as its escape (one line, no
    control sequences); printable text, backslashes included, is kept as it is."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else escaped(c) for c in text)


def string(text: str) -> str:
    """A Python string literal whose value is exactly ``text``, for any ``str``.

    Double quotes unless single ones need fewer escapes, as ``ruff format`` prefers, so
    the emitted file stays formatter-clean.
    """
    quote = "'" if text.count('"') > text.count("'") else '"'
    body = "".join(
        "\\" + c if c in ("\\", quote) else c if c.isprintable() else escaped(c) for c in text
    )
    return quote + body + quote


def literal(value: bool | int | float | str) -> str:
    """A Python expression for a spec scalar (bool before int: ``True``, not ``1``;
    ``float("inf")`` where ``repr`` would give the bare name ``inf``)."""
    if isinstance(value, str):
        return string(value)
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({string(repr(value))})"
    if isinstance(value, bool | int | float):
        return repr(value)
    raise TypeError(f"no literal for {type(value).__name__}")


def formatted(template: str, holes: dict[str, str]) -> str:
    """An f-string whose value is ``template`` with each hole (a key of ``holes``, such as
    ``{n}``) replaced by the value of its Python expression (``i + 1``), for any text: the
    rest is escaped as in ``string``, braces doubled."""
    pattern = "|".join(re.escape(hole) for hole in holes)
    body = ""
    for part in re.split(f"({pattern})", template) if holes else [template]:
        if part in holes:
            body += "{" + holes[part] + "}"
            continue
        for char in part:
            if char in '\\"':
                body += "\\" + char
            elif char in "{}":
                body += char * 2
            else:
                body += char if char.isprintable() else escaped(char)
    return f'f"{body}"'


def docstring_line(text: str) -> str:
    """One line of text for the inside of a ``\"\"\"`` docstring: shown as ``visible``
    gives it (the docstring's value), backslashes and quotes escaped in the source."""
    return visible(text).replace("\\", "\\\\").replace('"', '\\"')


def comment_line(text: str) -> str:
    """One line of text for after a ``#``: a comment ends at a line break, so none is left."""
    return visible(text)
