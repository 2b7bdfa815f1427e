"""Which scheduled jobs this build can run, and the ``Schedule`` ``openkoi serve`` runs them with.

The job bodies are plugged in here: ``memory_maintenance`` comes from ``scheduler.jobs``; the
digests (rendered and posted by ``bots/chat``) and pattern mining (``core.reflection``) are passed to
``standard_jobs`` once they exist. A job without a body is not scheduled, and ``openkoi schedule
list`` says it is not available.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.config import Settings
    from core.store import Store
    from scheduler.jobs import PostDigest
    from scheduler.runs import JobFunc
    from scheduler.schedule import Schedule


def local_jobs(settings: Settings, store: Store) -> dict[str, JobFunc]:
    """The jobs a process without chat can run (``openkoi schedule run`` with no service up)."""
    from scheduler.jobs import standard_jobs

    return standard_jobs(settings, store)


def service_jobs(settings: Settings, store: Store, post_digest: PostDigest | None = None) -> dict[str, JobFunc]:
    """The jobs ``openkoi serve`` schedules: the local ones, plus the digests when it can post them."""
    from scheduler.jobs import standard_jobs

    return standard_jobs(settings, store, post_digest=post_digest)


def service_schedule(settings: Settings, store: Store, post_digest: PostDigest | None = None) -> Schedule:
    from scheduler.schedule import Schedule

    return Schedule(settings.schedule, store, service_jobs(settings, store, post_digest))
