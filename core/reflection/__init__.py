"""Reflection: what the agent can say about its own work, computed from the store, never invented.

Owns the reflection figures (today, week, honest, growth) and the digests built from them, pattern
mining over the usage events, and the skill proposals drafted from the patterns. The scheduler and
the CLI only ask for these; nothing here knows about chat platforms or APScheduler.
"""
