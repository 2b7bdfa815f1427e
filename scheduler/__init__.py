"""The scheduler: APScheduler wiring and the job functions, each a thin call into ``core``.

``schedule.Schedule`` runs jobs on their crontab times in ``openkoi serve`` (one process per
database, by a lease), records every run in ``job_runs`` keyed by the fire time it is for, catches
up once after downtime, and answers ``openkoi schedule run`` from other processes. ``jobs`` names
the standard jobs and builds them. APScheduler is imported only inside functions that use it.
"""
