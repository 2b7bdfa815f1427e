"""Memory: what the agent learnt, kept so that later tasks can use it.

Owns learnings, anti-patterns, preferences and task summaries as canonical SQLite rows (through
``core.store.memories``), each in the scope of the task that taught it; the embedder
(``embedder``); the vector index derived from the rows (``core.store.vectors``, rebuilt by
``Memory.reindex``) with its exact fallback (``search``); scoped, token-budgeted recall
(``recall``); reinforcement of near-duplicates and decay computed at read time (``memory``,
``decay``); the compaction of old task transcripts into summaries (``compaction``); and the
extraction of learnings from a finished task (``learning``: the one model call that feeds memory).

Nothing is imported here: ``openkoi status`` reads the store without loading numpy or a model.
"""
