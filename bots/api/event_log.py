"""The engine's events of every task, stored as they happen (``core.store.task_events``), and a way to wait
for the next one: what an event stream replays from and then follows.

A bus subscriber, like the thread publisher: it stores each event before the engine goes on, so an event a
client was sent is one a reconnecting client can be sent again. Listeners are woken after the write; they
read what they have not seen from the store, so nothing is lost between a replay and the live events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from bots.api.event_json import event_json, event_type
from core.events import Event, EventBus
from core.store import Store

log = logging.getLogger(__name__)

END = "task_finished"  # a task's last event


@dataclass
class EventLog:
    store: Store
    _listeners: dict[str, set[asyncio.Event]] = field(default_factory=dict)
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(self.on_event)

    async def on_event(self, event: Event) -> None:
        stored = await self.store.task_events.append(event.task_id, event_type(event), event_json(event))
        if stored is None:
            log.debug("event %s of unknown task %s not stored", type(event).__name__, event.task_id)
            return
        for woken in self._listeners.get(event.task_id, ()):
            woken.set()

    @contextlib.contextmanager
    def listening(self, task_id: str) -> Iterator[asyncio.Event]:
        """An ``asyncio.Event`` set whenever an event of ``task_id`` is stored, for the life of the block."""
        signal = asyncio.Event()
        self._listeners.setdefault(task_id, set()).add(signal)
        try:
            yield signal
        finally:
            listeners = self._listeners.get(task_id)
            if listeners is not None:
                listeners.discard(signal)
                if not listeners:
                    del self._listeners[task_id]

    def close(self) -> None:
        """Wake every stream so that it ends (the service is stopping)."""
        self.closing.set()
        for listeners in self._listeners.values():
            for signal in listeners:
                signal.set()
