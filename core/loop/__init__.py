"""The PEER loop: Plan → Execute → Evaluate → Refine, until the output is good enough or a breaker trips.

Owns the planner (``planner``: the evaluator category and the steps), the executor and its tools
(``executor``, ``tools``, and ``workspace``: the one directory tree the file tools may read), the
evaluator (``evaluator``: rubric scores, incremental on refinements), the decision after each
iteration (``decision``: a pure function of the numbers), token-frugal context for refinements
(``context``), and the loop that drives them (``peer``).

Nothing is imported here, so that importing one stage does not load the others.
"""
