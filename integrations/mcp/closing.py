"""``async with`` for what the MCP client closes with ``aclose()``: the hub of servers and a watched stream."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class ClosedOnExit:
    """Entering gives the object itself; leaving, however it is left, awaits its ``aclose()``."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
