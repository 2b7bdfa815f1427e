"""Deliberation: what happens before the agent acts.

Owns the team's values (``soul``: SOUL.md), the Sovereign's directive that frames a task with them
(``sovereign``), the Parliament's one structured call where five agencies vote (``parliament``), the
rules that turn the votes into the one ``Verdict`` (``verdict``: the tally, failing closed), and
``--simulate``'s possible futures (``simulate``).

Nothing is imported here, so that importing one stage does not load the others.
"""
