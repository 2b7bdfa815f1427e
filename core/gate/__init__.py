"""The gate: what decides whether something may run, and who decided.

It owns the rule floor (``floor``: a deterministic screen, no model, that finds irreversible or
wide-reaching effects in a task or a proposed action and names the rule that matched), and will own the
trust levels per domain, the classification of actions and the audit ledger. The floor is the part a
model can never lower: a model may add caution, never remove it.

Modules: ``normalise`` (text folding), ``clauses`` (a task cut into clauses, each doing or only talking),
``spec`` (the rules as data, validated), ``rules`` (their compiled form), ``settings`` (the team's
``[gate.floor]``), ``probe`` and ``similarity`` (the embedder's optional part: a probe fitted offline on
shipped exemplars, which may add matches, never remove one) and ``floor`` (the screen itself). Importing
the package loads no model.
"""
