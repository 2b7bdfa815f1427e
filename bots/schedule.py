"""The ``Schedule`` ``openkoi serve`` runs its jobs with.

The job bodies are ``scheduler.jobs.standard_jobs``; the service adds the digests' body, since only it
can post into chat (``openkoi schedule run`` in a process without chat builds the same jobs without
it, and ``openkoi schedule list`` says the digests are not available there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.config import Settings
    from core.store import Store
    from scheduler.jobs import PostDigest
    from scheduler.schedule import Schedule


def service_schedule(settings: Settings, store: Store, post_digest: PostDigest | None = None) -> Schedule:
    from scheduler.jobs import standard_jobs
    from scheduler.schedule import Schedule

    return Schedule(settings.schedule, store, standard_jobs(settings, store, post_digest=post_digest))
