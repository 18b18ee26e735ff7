"""The consoles every command shares: stdout for results, stderr for diagnostics."""

from __future__ import annotations

from rich.console import Console

out = Console()
err = Console(stderr=True, soft_wrap=True)
