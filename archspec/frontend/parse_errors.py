"""Parser errors made human: which token was unexpected, what was expected, a hint."""

from __future__ import annotations

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from archspec.diagnostics import Diagnostic
from archspec.frontend.grammar import KEYWORDS, Locator, parser


def _terminal_text(name: str) -> str:
    friendly = {
        "NAME": "a name",
        "NUMBER": "a number",
        "STRING": "a string",
        "SHAPE": "a shape like 3x224x224 or in_channels x 224x224",
        "COMPARE": "a comparison",
        "ADD": "'+' or '-'",
        "MUL": "'*', '//' or '%'",
        "SLASH": "'/'",
        "ADDITION": "'+ shortcut' or '+ identity'",
        "$END": "the end of the text",
    }
    if name in friendly:
        return friendly[name]
    for terminal in parser().terminals:
        if terminal.name == name and terminal.pattern.type == "str":
            return f"'{terminal.pattern.value}'"
    return name.lower()


def _expected(names: set[str]) -> str:
    shown = sorted({_terminal_text(n) for n in names})
    if len(shown) > 8:
        shown = [*shown[:8], "..."]
    return ", ".join(shown)


def describe_error(error: UnexpectedInput, text: str, locator: Locator) -> Diagnostic:
    position = getattr(error, "pos_in_stream", None)
    if isinstance(error, UnexpectedToken) and error.token.type == "$END":
        position = len(text)
    if isinstance(error, UnexpectedEOF) or position is None:
        position = len(text)
    length = 1
    found = text[position : position + 1]
    hint = ""
    if isinstance(error, UnexpectedToken) and error.token.type != "$END":
        found = str(error.token)
        length = max(1, len(found))
        expected = _expected(set(error.accepts or error.expected or ())) or "another item"
        if found == ")":
            hint = "this ')' has no matching '('"
        elif found in KEYWORDS and "NAME" in (error.accepts or error.expected or ()):
            hint = f"'{found}' is a keyword and cannot be used as a name"
    elif isinstance(error, UnexpectedCharacters):
        expected = _expected(set(error.allowed or ()))
        if found == ":":
            hint = "name items and pass arguments with '=', e.g. conv1=conv(64, 3, stride=2)"
        elif found == "[":
            hint = "group items with parentheses: features=(conv(64, 3) relu)"
    else:
        expected = _expected(set(getattr(error, "expected", ()) or ()))
        found = ""
    if not found:
        message = f"unexpected end of text; expected {expected}"
        if text.count("(") > text.count(")"):
            hint = "a '(' is not closed"
        start = max(0, len(text) - 1)
        span = locator.span(start, start + 1)
    else:
        message = f"unexpected '{found}'; expected {expected}"
        span = locator.span(position, position + length)
    label = "not expected here" if found else "the text ends here"
    return Diagnostic(code="E100", message=message, span=span, label=label, help=hint)
