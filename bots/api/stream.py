"""``GET /api/v1/tasks/{id}/events``: a task's progress as Server-Sent Events, the same events the terminal
renders, each with its stored id.

The stream replays what the store holds after ``Last-Event-ID`` (a reconnecting ``EventSource`` sends it by
itself; ``?after=`` does the same for clients that cannot set headers), then follows new events as the event
log stores them, and ends after the task's end event. While nothing happens it sends a comment every
``[api] heartbeat_seconds``. A task that ended without an end event on record (one that finished before the
API was on) ends the stream once its events are sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bots.api.event_log import END
from bots.api.http import read_query
from bots.api.problems import ApiError
from bots.api.routes import EVENT_STREAM, Call
from bots.api.tasks import task_of
from core.errors import NotFound
from core.models import utcnow
from core.store.task_events import StoredEvent

LAST_EVENT_ID = "Last-Event-ID"
RETRY_MS = 3000
# A finished task's status is written a moment before its end event: only a task finished longer ago than
# this, with nothing more to send, is taken to have no end event coming.
SETTLED = timedelta(seconds=5)


class EventsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after: int | None = Field(None, ge=0, description="Send only events after this id (as Last-Event-ID).")


async def task_events(call: Call) -> web.StreamResponse:
    task = await task_of(call)
    after = _resume_from(call)
    api, request = call.api, call.request
    response = web.StreamResponse(headers={"Content-Type": EVENT_STREAM, "Cache-Control": "no-cache"})
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    with api.events.listening(task.id) as woken:
        await response.prepare(request)
        try:
            await response.write(f"retry: {RETRY_MS}\n\n".encode())
            while not api.events.closing.is_set():
                woken.clear()  # before reading: an event stored after the read wakes the wait below
                events = await api.store.task_events.after(task.id, after)
                for event in events:
                    await response.write(_frame(event))
                    after = event.id
                if any(e.type == END for e in events):
                    break
                if events:
                    continue  # there may be more than one read returns
                if await _ended_quietly(call, task.id):
                    break
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(api.settings.heartbeat_seconds):
                        await woken.wait()
                        continue
                await response.write(b": keep-alive\n\n")
        except (ConnectionResetError, ConnectionError):
            return response  # the client went away
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
    return response


def _resume_from(call: Call) -> int:
    query = read_query(call.request, EventsQuery)
    header = call.request.headers.get(LAST_EVENT_ID)
    if header is None or not header.strip():
        return query.after or 0
    try:
        value = int(header.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise ApiError.invalid(
            LAST_EVENT_ID, "not an event id", f"{LAST_EVENT_ID} must be an event id this stream sent"
        )
    return value


async def _ended_quietly(call: Call, task_id: str) -> bool:
    try:
        task = await call.api.store.tasks.get(task_id)
    except NotFound:  # deleted (its session was) while followed
        return True
    return task.status.finished and utcnow() - task.updated_at > SETTLED


def _frame(event: StoredEvent) -> bytes:
    # The stored JSON is one line (compact separators, newlines escaped), as a data: field needs.
    return f"id: {event.id}\nevent: {event.type}\ndata: {event.data_json}\n\n".encode()
