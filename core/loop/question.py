"""Whether a task reads as a question, deterministically: the one kind of task whose result may go unscored.

The planner says when a task "only asks a question and changes nothing" (``Plan.read_only``), and a sure
planner lets the loop skip the evaluation. That is a model removing a check, so the model's word is not
enough: the task must also *read* as a question here (it ends with "?" or opens with an interrogative or an
asking-to-be-shown word), and the rule floor must have found nothing in it. A model that marks every task
read-only then changes nothing: "write the release notes" is still scored against the bar.
"""

from __future__ import annotations

import re

from core.gate.floor import FloorResult

# Words that open a question or a request to be told or shown something (English; other languages end
# with "?" or are scored, which only adds caution).
OPENERS = frozenset(
    (
        "what", "why", "how", "when", "where", "who", "whom", "whose", "which", "is", "are", "was", "were", "do",
        "does", "did", "can", "could", "should", "would", "will", "explain", "describe", "show", "list",
        "summarise", "summarize", "tell",
    )
)  # fmt: skip
_FIRST_WORD = re.compile(r"[a-z]+")


def reads_as_question(task: str) -> bool:
    """True when ``task`` ends with a question mark or opens with one of ``OPENERS``."""
    text = task.strip().lower()
    if text.endswith("?"):
        return True
    first = _FIRST_WORD.match(text)
    return first is not None and first.group(0) in OPENERS


def may_skip_evaluation(task: str, floor: FloorResult, planner_says: bool) -> bool:
    """The loop may leave the result unscored only if the planner is sure it is read-only *and* the task
    reads as a question *and* the rule floor matched nothing in it (see the module)."""
    return planner_says and not floor.matches and reads_as_question(task)
