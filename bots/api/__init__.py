"""The HTTP API of `openkoi serve` under /api/v1, on the service's own aiohttp server (one process, one port).

It owns: bearer tokens with scopes and their rate (``tokens``, ``auth``, ``ratelimit``), problem documents for
every error (``problems``, ``middleware``), the route table and the OpenAPI document made from it and the
pydantic models its handlers use (``table``, ``routes``, ``openapi``), the task routes (``tasks``, ``submit``,
``task_views``), the events of each task, stored and streamed (``event_log``, ``event_json``, ``stream``), the
gate's decisions through the chat desks (``decisions``, ``policy``), the read-only views (``views``), and
`openkoi api token create` (``cli``). ``app.mount`` puts it on the service's application.
"""
