"""Docker Engine versions and the facts that differ between them, as rows.

``DockerVersion.parse("20.10.24")``; ``fact(name, version)`` gives the value of a
version-dependent fact. To add a fact for a daemon, add a row to ``FACTS`` (newest first):
a fact holds from its ``since`` version until a newer row replaces it.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class DockerVersion(NamedTuple):
    major: int
    minor: int = 0
    patch: int = 0

    @classmethod
    def parse(cls, text: str | DockerVersion | None) -> DockerVersion:
        """``"20.10.24"``, ``"28.5.2+dfsg1"``, ``"v26.1"``; None gives ``DEFAULT_VERSION``.
        Raises ``ValueError`` for text with no version number in it."""
        if text is None:
            return DEFAULT_VERSION
        if isinstance(text, DockerVersion):
            return text
        found = re.match(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", text.strip())
        if found is None:
            raise ValueError(f"not a Docker version: {text!r}")
        major, minor, patch = (int(g) if g else 0 for g in found.groups())
        return cls(major, minor, patch)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


DEFAULT_VERSION = DockerVersion(20, 10, 24)
"""The daemon whose behaviour every verdict row was observed on (Debian bookworm's docker.io)."""

FACTS: dict[str, tuple[tuple[DockerVersion, str], ...]] = {
    # libnetwork ipamapi.ErrNoIPReturned (capitalised up to v23).
    "no_address_returned": ((DockerVersion(24), "no address returned"),
                            (DockerVersion(1, 10), "No address returned")),
    # The host in the URL of transport errors (dummyHost since 20.10.26 / 23.0.7 / 24.0.5).
    "plugin_url_host": ((DockerVersion(24, 0, 5), "plugin.moby.localhost"),
                        (DockerVersion(24), "{socket}"),
                        (DockerVersion(23, 0, 7), "plugin.moby.localhost"),
                        (DockerVersion(23), "{socket}"),
                        (DockerVersion(20, 10, 26), "plugin.moby.localhost"),
                        (DockerVersion(1, 7), "{socket}")),
}


def fact(name: str, version: DockerVersion) -> str:
    """The value of fact ``name`` for ``version``. Raises ``KeyError`` for an unknown fact."""
    for since, value in FACTS[name]:
        if version >= since:
            return value
    return FACTS[name][-1][1]
