"""The gate: what decides whether something may run, and who decided.

It owns the rule floor (``floor``: a deterministic screen, no model, that finds irreversible or
wide-reaching effects in a task or a proposed action and names the rule that matched), the trust levels
per domain (``trust``, ``domains``), the gate's decision (``decision``: floor + the Parliament's verdict +
the levels in force, pure) and the audit ledger (``ledger``, over ``core.store``). The floor is the part a
model can never lower: a model may add caution, never remove it.

Modules: ``normalise`` (text folding), ``clauses`` (a task cut into clauses, each doing or only talking),
``spec`` (the rules as data, validated), ``rules`` (their compiled form), ``settings`` (the team's ``[gate]``
and ``[gate.floor]``), ``probe`` and ``similarity`` (the embedder's optional part: a probe fitted offline on
shipped exemplars, which may add matches, never remove one), ``floor`` (the screen itself), ``trust``,
``domains``, ``decision``, ``ledger``, ``describe`` (how levels and audit rows read) and ``gatekeeper`` (the
gate as the engine meets it: the floor loaded once, the screen off the event loop, the decision audited).
Importing the package loads no model.
"""
