"""Where an export goes: a file, or stdout for ``-``.

``OutputError`` carries the message and the exit code the command ends with (2: a binary format
refused on a terminal, or a text file that cannot be written; 1: a binary file that failed
part-way, what was written before stays).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path


class OutputError(OSError):
    """The export cannot be written; ``code`` is the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def write_text(text: str, output: str) -> None:
    """Write to a file, or to stdout for ``-``. Raises OutputError (code 2)."""
    if output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror or exc}", 2) from None


def write_pieces(pieces: Iterable[str], output: str) -> None:
    """Write a text format piece by piece as it is made (``write_text`` of the joined pieces,
    without holding them). Raises OutputError (code 2); what was written before stays."""
    if output == "-":
        for piece in pieces:
            sys.stdout.write(piece)
        sys.stdout.flush()
        return
    try:
        with open(output, "w", encoding="utf-8") as f:
            for piece in pieces:
                f.write(piece)
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror or exc}", 2) from None


def write_chunks(chunks: Iterable[bytes], output: str) -> None:
    """Write a binary format chunk by chunk as it is made, to a file or to stdout for ``-``.

    A terminal on stdout is refused (code 2): the bytes are for mitmproxy, not for eyes. An
    unwritable file raises OutputError with code 1; what was written before stays.
    """
    if output == "-":
        if sys.stdout.isatty():
            raise OutputError("this format is binary: give --output FILE (or pipe it)", 2)
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    try:
        with open(output, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror or exc}", 1) from None
