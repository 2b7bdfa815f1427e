"""The gate: what decides whether something may run, and who decided.

It owns the rule floor (``floor``: a deterministic screen, no model, that finds irreversible or
wide-reaching effects in a task or a proposed action and names the rule that matched), and will own the
trust levels per domain, the classification of actions and the audit ledger. The floor is the part a
model can never lower: a model may add caution, never remove it.

Modules: ``normalise`` (text folding), ``clauses`` (a task cut into clauses, each doing or talking),
``rules`` (the rules as data and their compiled form), ``settings`` (the team's ``[gate.floor]``
configuration), ``similarity`` (optional nearest-exemplar matching with the local embedder) and
``floor`` (the screen itself). Importing the package loads no model.
"""
