"""The ``Schedule`` ``openkoi serve`` runs its jobs with.

The job bodies are ``scheduler.jobs.standard_jobs``; the service adds the digests' body, since only it
can post into chat (``openkoi schedule run`` in a process without chat builds the same jobs without
it, and ``openkoi schedule list`` says the digests are not available there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.config import Settings
    from core.store import Store
    from scheduler.jobs import PostDigest
    from scheduler.runs import JobFunc
    from scheduler.schedule import Schedule


def service_schedule(
    settings: Settings,
    store: Store,
    post_digest: PostDigest | None = None,
    *,
    metered: Callable[[Mapping[str, JobFunc]], Mapping[str, JobFunc]] | None = None,
) -> Schedule:
    """The service's jobs; ``metered`` wraps their bodies (the metrics count and time every run)."""
    from scheduler.jobs import standard_jobs
    from scheduler.schedule import Schedule

    jobs = standard_jobs(settings, store, post_digest=post_digest)
    return Schedule(settings.schedule, store, metered(jobs) if metered is not None else jobs)
