"""Named tasks that are never dropped on the floor."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class TaskGroup:
    """Keeps a reference to every task it spawns until the task ends."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def wait(self, timeout: float) -> bool:
        """Wait for every task; True when all ended within ``timeout`` seconds."""
        if not self.tasks:
            return True
        _done, pending = await asyncio.wait(set(self.tasks), timeout=timeout)
        return not pending

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()
