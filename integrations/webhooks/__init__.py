"""Outgoing webhooks: what openkoi tells other systems (CI, incident tools, dashboards) as tasks run.

The engine's events (``core.events``) that an endpoint subscribes to become small, versioned JSON payloads
(``events``), written to a durable outbox in the database before any attempt (``outbox``; the rows live in
``core.store.webhooks``). A worker sends them, signed as the Standard Webhooks specification says (``signing``),
with aiohttp (``sender``: a timeout, no redirects followed), retrying failures on a jittered schedule
(``retry``) and disabling an endpoint that answers 410 Gone (``worker``). Endpoints come from ``[[webhooks]]``
and the seeds' ``[api.webhooks]`` shorthand (``settings``); ``outgoing`` is what ``openkoi serve`` starts and stops.
"""
