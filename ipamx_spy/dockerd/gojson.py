"""Go's ``encoding/json`` as dockerd uses it: the one encoder and the one decoder.

Encoding (``json.NewEncoder(w).Encode(v)``, PROTOCOL.md 1.2): compact, one trailing newline,
struct fields in declaration order (a ``Struct``), map keys sorted (a plain ``dict``), ``None``
as ``null``, ``<``, ``>`` and ``&`` escaped as ``\\u003c`` ``\\u003e`` ``\\u0026``, U+2028/2029
escaped, other control characters as ``\\u00XX`` except ``\\n`` ``\\r`` ``\\t`` (Go 1.19, the
compiler of dockerd 20.10.24, has no ``\\b``/``\\f`` short forms), other non-ASCII raw.

Decoding as dockerd does (``json.NewDecoder(body).Decode(&resp)``, PROTOCOL.md 1.3):
``decode(body, struct)`` reads only the first JSON value (trailing data is kept aside, not an
error), says ``EOF`` for an empty body, ``unexpected EOF`` or the scanner's ``invalid character``
message for bad syntax, matches keys to Go field names case-insensitively (exact match first),
ignores unknown keys, leaves a field alone for ``null``, and reports the first value that does
not fit its field as Go does (``json: cannot unmarshal number into Go struct field
RequestPoolResponse.PoolID of type string``) while still storing the other fields.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .gotypes import GoKind, GoMap, GoSlice, GoStruct, GoType

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


def _float(value: float) -> str:
    """Go's float64 encoding: shortest round-trip digits, plain notation between 1e-6 and
    1e21, else exponent form without leading zeros in the exponent (``1e-7``, ``1e+21``)."""
    if math.isnan(value) or math.isinf(value):
        raise TypeError(f"json: unsupported value: {value}")
    size = abs(value)
    if size != 0 and (size < 1e-6 or size >= 1e21):
        mantissa, _, exponent = repr(value).partition("e")
        sign = "-" if exponent.startswith("-") else "+"
        return f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _encode(value: JSON, ordered: bool = False) -> str:
    """Go's encoding of ``value``; ``ordered`` reads every plain dict as a ``Struct``."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Struct) or (ordered and isinstance(value, dict)):
        return "{" + ",".join(f"{_string(k)}:{_encode(v, ordered)}" for k, v in value.items()) + "}"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-8"))
        return "{" + ",".join(f"{_string(k)}:{_encode(value[k], ordered)}" for k in keys) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v, ordered) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} the way dockerd does")


def encode(value: JSON) -> bytes:
    """The exact body bytes dockerd writes for ``value`` (with the trailing newline)."""
    return (_encode(value) + "\n").encode("utf-8")


def _compact_encoder() -> Callable[[JSON], str]:
    """Python's compact encoder, made once (``json.dumps`` with separators, and
    ``JSONEncoder.encode`` too, build a new C encoder on every call: about 2x slower)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - an interpreter without the C accelerator
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    encoder = make(None, _not_json, json.encoder.encode_basestring, None, ":", ",",
                   False, False, True)
    wrap = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def encode(value: JSON) -> str:
        if isinstance(value, str):
            return json.encoder.encode_basestring(value)
        if not isinstance(value, dict | list | tuple):
            return wrap(value)
        return "".join(encoder(value, 0))
    return encode


def _not_json(value: object) -> JSON:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_COMPACT = _compact_encoder()


def compact(value: JSON) -> str:
    """Python's compact JSON text of ``value`` (insertion order, ``repr`` floats, ``\\b`` and
    ``\\f`` short escapes) with Go's HTML and U+2028/9 escapes applied.

    This is the recording format's ``go`` body layout, frozen by the files already written; it
    is what Go writes whenever ``value`` holds no float and no U+0008/U+000C character
    (``fields`` uses it as its fast path)."""
    text = _COMPACT(value)
    if "<" in text or ">" in text or "&" in text:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    if "\u2028" in text or "\u2029" in text:
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text


_NUMBER = re.compile(r"[:,\[][-\dIN]")
"""A first quick look for a number (most protocol bodies have none)."""
_FLOAT = re.compile(r"[:,\[]-?(?:\d+[.eE]|Infinity|NaN)")
"""A float token in Python's compact text of an object or array: always after ``:``, ``,`` or
``[`` (an int has no ``.``/``e``). A match inside a string only sends the value down the slow
path, which is exact either way; so does a ``\\b``/``\\f`` escape (Go writes ``\\u0008``)."""


def fields(value: JSON) -> str:
    """What Go's ``json.Encoder`` writes for ``value`` when every object in it is a struct whose
    fields are in the dict's insertion order (a plain dict keeps its order, as a ``Struct``
    does); floats as Go writes them (``1``, ``1e-7``, ``1e+21``). No trailing newline."""
    if not isinstance(value, dict | list | tuple):
        return _encode(value, ordered=True)
    text = compact(value)
    if "\\b" in text or "\\f" in text or (_NUMBER.search(text) and _FLOAT.search(text)):
        return _encode(value, ordered=True)
    return text


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


# -- decoding into Go types ---------------------------------------------------------------


def json_kind(value: JSON) -> str:
    """The JSON kind Go names in its type errors: bool, number, string, array, object, null."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


@dataclass(frozen=True, kw_only=True)
class TypeProblem:
    """A value Go cannot store in its field; ``message`` is Go's error text."""

    path: tuple[str, ...]
    message: str


@dataclass(kw_only=True)
class Decoded:
    """A body as dockerd's decoder sees it.

    ``error`` is the error ``Decode`` returns (None: the call decoded); ``value`` is the first
    JSON value with object keys renamed to Go field names (what dockerd stores; a type error
    still leaves the other fields stored); ``raw`` is that value as sent.
    """

    value: JSON = None
    raw: JSON = None
    error: str | None = None
    syntax_error: bool = False
    trailing: str = ""
    folded: list[str] = field(default_factory=list)  # keys matched only case-insensitively
    unknown: list[str] = field(default_factory=list)  # keys that match no field (ignored)
    problems: list[TypeProblem] = field(default_factory=list)

    @property
    def fields(self) -> dict[str, JSON]:
        """The decoded object (empty when the value was not an object)."""
        return self.value if isinstance(self.value, dict) else {}


def _mismatch(value: JSON, gotype: GoType) -> str | None:
    """The JSON kind to report when ``value`` does not fit ``gotype`` (None when it fits)."""
    if value is None or gotype == GoKind.ANY:
        return None
    kind = json_kind(value)
    expected = {GoKind.STRING: "string", GoKind.BOOL: "bool", GoKind.INT: "number"}.get(
        gotype) if isinstance(gotype, GoKind) else None
    if isinstance(gotype, GoStruct | GoMap):
        expected = "object"
    elif isinstance(gotype, GoSlice):
        expected = "array"
    if kind != expected:
        return kind
    if gotype == GoKind.INT and not isinstance(value, int):
        return f"number {value}"
    return None


class _Walker:
    def __init__(self, result: Decoded) -> None:
        self.result = result

    def struct(self, value: Mapping[str, JSON], struct: GoStruct,
               path: tuple[str, ...]) -> dict[str, JSON]:
        out: dict[str, JSON] = {}
        for key, item in value.items():
            found = struct.field(key)
            dotted = ".".join((*path, key))
            if found is None:
                self.result.unknown.append(dotted)
                continue
            name, gotype = found
            if name != key:
                self.result.folded.append(dotted)
            if item is None and name in out:
                continue  # null leaves the field as an earlier key set it
            out[name] = self.check(item, gotype, struct, (*path, name))
        return out

    def check(self, value: JSON, gotype: GoType, owner: GoStruct,
              path: tuple[str, ...]) -> JSON:
        kind = _mismatch(value, gotype)
        if kind is not None:
            self.result.problems.append(TypeProblem(path=path, message=(
                f"json: cannot unmarshal {kind} into Go struct field {owner.short}."
                f"{'.'.join(path)} of type {gotype}")))
            return None
        if isinstance(gotype, GoStruct) and isinstance(value, dict):
            return self.struct(value, gotype, path)
        if isinstance(gotype, GoSlice) and isinstance(value, list):
            return [self.check(v, gotype.elem, owner, path) for v in value]
        if isinstance(gotype, GoMap) and isinstance(value, dict):
            return {k: self.check(v, gotype.elem, owner, path) for k, v in value.items()}
        return value


def unmarshal(value: JSON, struct: GoStruct, result: Decoded | None = None) -> Decoded:
    """Store an already parsed JSON value into ``struct`` as Go's decoder would."""
    result = result if result is not None else Decoded()
    result.raw = value
    if value is None:
        result.value = None
        return result
    if not isinstance(value, dict):
        result.error = (f"json: cannot unmarshal {json_kind(value)} into Go value of type "
                        f"{struct.name}")
        return result
    result.value = _Walker(result).struct(value, struct, ())
    if result.problems:
        result.error = result.problems[0].message
    return result


def decode(body: bytes, struct: GoStruct) -> Decoded:
    """``json.NewDecoder(bytes.NewReader(body)).Decode(&v)`` for a ``v`` of type ``struct``."""
    text = body.decode("utf-8", "replace")
    parsed = _first_value(text)
    if parsed is None:  # the slow path only for bad syntax: Go's exact message
        syntax = first_value_error(text) or "unexpected EOF"
        return Decoded(error=syntax, syntax_error=True)
    value, end = parsed
    result = Decoded(trailing=text[end:].strip(_SPACE))
    return unmarshal(value, struct, result)


def _no_constant(name: str) -> JSON:
    raise ValueError(f"Go has no {name}")


_PYTHON_JSON = json.JSONDecoder(parse_constant=_no_constant)


def _first_value(text: str) -> tuple[JSON, int] | None:
    """The first JSON value and where it ends, when its syntax is one Go accepts too (Python's
    decoder is Go's grammar plus NaN/Infinity, refused here); None otherwise."""
    start = len(text) - len(text.lstrip(_SPACE))
    try:
        return _PYTHON_JSON.raw_decode(text, start)
    except ValueError:
        return None


_ERROR_FIELDS = GoStruct("struct", (("Err", GoKind.STRING), ("Error", GoKind.STRING)))


def error_fields(body: bytes, *, whole: bool) -> dict[str, str]:
    """The non-empty ``Err`` and ``Error`` strings Go's decoder finds in ``body`` (keys
    matched case-insensitively, under their Go names): the first JSON value, as ``Decode``
    reads a 200 answer, or with ``whole`` the body as ``json.Unmarshal`` reads the others
    (trailing data refused). Empty when the body is no object or names neither; never
    raises."""
    text = body.decode("utf-8", "replace")
    parsed = _first_value(text)
    if parsed is None or not isinstance(parsed[0], dict):
        return {}
    value, end = parsed
    if whole and text[end:].strip(_SPACE):
        return {}
    stored = unmarshal(value, _ERROR_FIELDS).fields
    return {k: v for k, v in stored.items() if isinstance(v, str) and v}


def unmarshal_err(body: bytes) -> str:
    """``json.Unmarshal(body, &struct{Err string})`` as dockerd reads a non-200 body: the
    ``Err`` text (key matched case-insensitively), or "" when the body gives none."""
    text = body.decode("utf-8", "replace")
    parsed = _first_value(text)
    if parsed is None:
        return ""
    value, end = parsed
    if text[end:].strip(_SPACE):
        return ""  # json.Unmarshal, unlike Decode, refuses trailing data
    result = unmarshal(value, GoStruct("struct", (("Err", GoKind.STRING),)))
    if result.error is not None:
        return ""
    err = result.fields.get("Err")
    return err if isinstance(err, str) else ""
