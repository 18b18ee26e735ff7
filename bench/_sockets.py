"""What the socket benchmarks share: their C peers, built for the run, and waiting until a
server they started listens."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

C_SOURCES = Path(__file__).resolve().parent / "c"


def build_c(work: Path, *names: str) -> list[Path]:
    """Compile ``bench/c/NAME.c`` for each name into ``work`` with the machine's gcc."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        sys.exit("a C compiler is needed (apt-get install gcc)")
    binaries = []
    for name in names:
        binary = work / name
        subprocess.run([gcc, "-O2", "-o", str(binary), str(C_SOURCES / f"{name}.c"),
                        "-lpthread"], check=True)
        binaries.append(binary)
    return binaries


def wait_socket(path: str, timeout: float = 30) -> None:
    """Return once ``path`` accepts a connection; RuntimeError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {path}")
