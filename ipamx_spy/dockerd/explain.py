"""One sentence in plain words about an exchange: the request's sentence from its row, then
the verdict's (what dockerd made of the answer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .endpoints import EXTENSION_BY_NAME, endpoint_name, row_for
from .verdict import Outcome, Verdict, _bytes, read_answer

JSON = Any
# What a sentence function may raise on a body of the wrong shape (a list where dockerd sends a
# string, say): such a body only comes from a damaged or hand-written recording.
MISSHAPEN = (TypeError, ValueError, AttributeError, KeyError, IndexError)
SHAPE = "the body does not have the shape dockerd sends"


def explain_request(endpoint: str, request: JSON) -> str:
    """The request's sentence (the row's summary when it says nothing more)."""
    name = endpoint_name(endpoint)
    asked = request if isinstance(request, Mapping) else {}
    row = row_for(name)
    try:
        if row is not None:
            return row.explain_request(asked) or row.summary
        extension = EXTENSION_BY_NAME.get(name)
        if extension is not None:
            return extension.explain_request(asked)
    except MISSHAPEN:
        summary = row.summary if row is not None else f"request to {name}"
        return f"{summary} ({SHAPE})"
    return f"unknown endpoint {name}: not part of the libnetwork plugin protocol"


def explain(endpoint: str, request: JSON, verdict: Verdict | None = None) -> str:
    """The request's sentence, and what dockerd made of the answer when ``verdict`` is given."""
    text = explain_request(endpoint, request)
    if verdict is None:
        return text
    row = row_for(endpoint)
    if verdict.outcome is Outcome.SUCCESS:
        if row is None:
            return text
        asked = request if isinstance(request, Mapping) else {}
        try:
            answer = row.explain_success(asked, verdict.used)
        except MISSHAPEN:
            answer = f"dockerd took the answer ({SHAPE})"
        return f"{text}; {answer}" if answer else text
    return f"{text}; {verdict.sentence}"


def describe(endpoint: str, request: JSON, response: JSON | None = None,
             status: int = 200) -> str:
    """One sentence about an exchange from its decoded bodies: the request's, and what dockerd
    makes of the answer (``response``: decoded JSON, text or bytes) when there is one."""
    if response is None and status == 200:
        return explain(endpoint, request)
    verdict = read_answer(endpoint, status, None, _bytes(response),
                          request=request if isinstance(request, Mapping) else None)
    return explain(endpoint, request, verdict)
