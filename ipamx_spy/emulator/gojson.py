"""Go's ``encoding/json`` as dockerd uses it: the encoder that writes requests, and the
decoder's syntax errors for answers that are not JSON.

Encoding (``json.NewEncoder(w).Encode(v)``, PROTOCOL.md 1.2): compact, one trailing newline,
struct fields in declaration order (a ``Struct``), map keys sorted (a plain ``dict``), ``None``
as ``null``, ``<``, ``>`` and ``&`` escaped as ``\\u003c`` ``\\u003e`` ``\\u0026``, U+2028/2029
escaped, other control characters as ``\\u00XX`` except ``\\n`` ``\\r`` ``\\t`` (Go 1.19, the
compiler of dockerd 20.10.24, has no ``\\b``/``\\f`` short forms), other non-ASCII raw.

Decoding: ``first_value_error(text)`` answers what ``json.NewDecoder(body).Decode(&v)`` says
about the syntax of the first JSON value in ``text`` (``EOF``, ``unexpected EOF`` or
``invalid character 'x' ...``), or None when the first value is well formed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

JSON = Any


class Struct(dict[str, Any]):
    """A Go struct: keys are written in insertion (declaration) order, not sorted."""


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _string(text: str) -> str:
    parts = ['"']
    for char in text:
        if char in _SHORT_ESCAPES:
            parts.append(_SHORT_ESCAPES[char])
        elif char in _HTML:
            parts.append(_HTML[char])
        elif char < " ":
            parts.append(f"\\u{ord(char):04x}")
        else:
            parts.append(char)
    parts.append('"')
    return "".join(parts)


def _encode(value: JSON) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Struct):
        return "{" + ",".join(f"{_string(k)}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-8"))
        return "{" + ",".join(f"{_string(k)}:{_encode(value[k])}" for k in keys) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} the way dockerd does")


def encode(value: JSON) -> bytes:
    """The exact body bytes dockerd writes for ``value`` (with the trailing newline)."""
    return (_encode(value) + "\n").encode("utf-8")


# -- the decoder's syntax errors (encoding/json scanner.go) -----------------------------------


class GoSyntaxError(ValueError):
    """What Go's scanner says about a byte, e.g. ``invalid character 'o' in literal null``."""


def quote_char(char: str) -> str:
    """Go's ``quoteChar``: how a scanner error names the offending character."""
    if char == "'":
        return "'\\''"
    if char == '"':
        return "'\"'"
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
             "\v": "\\v", "\\": "\\\\"}
    if char in named:
        return f"'{named[char]}'"
    if char < " " or char == "\x7f":
        return f"'\\x{ord(char):02x}'"
    if not char.isprintable():
        return f"'\\u{ord(char):04x}'"
    return f"'{char}'"


def _fail(char: str, context: str) -> GoSyntaxError:
    return GoSyntaxError(f"invalid character {quote_char(char)} {context}")


_SPACE = " \t\r\n"
_DIGITS = "0123456789"
_HEX = "0123456789abcdefABCDEF"


class _Scanner:
    """Walks the first JSON value of a text the way Go's scanner does; ``end`` is where it ends."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        if self.pos >= len(self.text):
            raise EOFError
        return self.text[self.pos]

    def take(self) -> str:
        char = self.peek()
        self.pos += 1
        return char

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _SPACE:
            self.pos += 1

    def value(self) -> None:
        self.skip_space()
        char = self.take()
        handler = _VALUE_STARTS.get(char)
        if handler is None:
            if char in "123456789":
                self.number_rest(char)
                return
            raise _fail(char, "looking for beginning of value")
        handler(self)

    def obj(self) -> None:
        self.skip_space()
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            self.skip_space()
            char = self.take()
            if char != '"':
                raise _fail(char, "looking for beginning of object key string")
            self.string()
            self.skip_space()
            char = self.take()
            if char != ":":
                raise _fail(char, "after object key")
            self.value()
            self.skip_space()
            char = self.take()
            if char == "}":
                return
            if char != ",":
                raise _fail(char, "after object key:value pair")

    def array(self) -> None:
        self.skip_space()
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            self.value()
            self.skip_space()
            char = self.take()
            if char == "]":
                return
            if char != ",":
                raise _fail(char, "after array element")

    def string(self) -> None:
        while True:
            char = self.take()
            if char == '"':
                return
            if char == "\\":
                self.escape()
            elif char < " ":
                raise _fail(char, "in string literal")

    def escape(self) -> None:
        char = self.take()
        if char == "u":
            for _ in range(4):
                digit = self.take()
                if digit not in _HEX:
                    raise _fail(digit, "in \\u hexadecimal character escape")
        elif char not in 'bfnrt\\/"':
            raise _fail(char, "in string escape code")

    def literal(self, word: str) -> None:
        for expected in word[1:]:
            char = self.take()
            if char != expected:
                raise _fail(char, f"in literal {word} (expecting {quote_char(expected)})")

    def negative(self) -> None:
        char = self.take()
        if char not in _DIGITS:
            raise _fail(char, "in numeric literal")
        self.number_rest(char)

    def number_rest(self, first: str) -> None:
        if first != "0":
            self.digits()
        if self.at("."):
            self.pos += 1
            if not self.at_digit():
                raise _fail(self.take(), "after decimal point in numeric literal")
            self.digits()
        if self.at("e") or self.at("E"):
            self.pos += 1
            if self.at("+") or self.at("-"):
                self.pos += 1
            if not self.at_digit():
                raise _fail(self.take(), "in exponent of numeric literal")
            self.digits()

    def at(self, char: str) -> bool:
        return self.pos < len(self.text) and self.text[self.pos] == char

    def at_digit(self) -> bool:
        return self.pos < len(self.text) and self.text[self.pos] in _DIGITS

    def digits(self) -> None:
        while self.at_digit():
            self.pos += 1


_VALUE_STARTS: dict[str, Callable[[_Scanner], None]] = {
    "{": _Scanner.obj,
    "[": _Scanner.array,
    '"': _Scanner.string,
    "-": _Scanner.negative,
    "0": lambda s: s.number_rest("0"),
    "t": lambda s: s.literal("true"),
    "f": lambda s: s.literal("false"),
    "n": lambda s: s.literal("null"),
}


def first_value_error(text: str) -> str | None:
    """Go's ``Decoder.Decode`` verdict on the syntax of the first value, or None if it is fine.

    ``EOF`` for nothing but white space, ``unexpected EOF`` for a value cut short, else the
    scanner's ``invalid character`` message.
    """
    scanner = _Scanner(text)
    scanner.skip_space()
    if scanner.pos >= len(text):
        return "EOF"
    try:
        scanner.value()
    except EOFError:
        return "unexpected EOF"
    except GoSyntaxError as exc:
        return str(exc)
    return None


def first_value_end(text: str) -> int:
    """Where the first (well-formed) value of ``text`` ends; call after ``first_value_error``."""
    scanner = _Scanner(text)
    scanner.value()
    return scanner.pos
