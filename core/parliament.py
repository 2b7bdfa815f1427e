"""The Parliament: five agencies deliberate in one structured call. Fails closed."""

from __future__ import annotations

from core.deliberation import Verdict, tally, unavailable
from core.errors import BudgetExceeded, OpenKoiError, TaskTimeout
from core.llm.gateway import CallContext, ModelGateway
from core.models import Phase, Role
from core.outputs import ParliamentReply
from core.prompt import Prompt

SYSTEM = """You are the Parliament of an engineering team's agent. Before the agent acts, five agencies \
deliberate on the task. Each votes APPROVE, APPROVE_WITH_CAVEAT (give the caveat), ABSTAIN or BLOCK, with \
a one-sentence reason:
- guardian: safety and reversibility. Can this be undone? What is the blast radius? BLOCK anything \
irreversible or high-risk (deleting data, production changes, sending messages or money on someone's \
behalf, leaking secrets) unless the task makes the safeguards explicit. Also state reversibility \
(FULL/PARTIAL/NONE), blast radius (LOW/MEDIUM/HIGH) and the permission level required \
(NONE/STANDARD/ELEVATED).
- economist: cost and efficiency. Is it worth the tokens and time?
- empath: human context. What does the person actually need; what tone?
- scholar: factual accuracy. Is there enough evidence; what must be checked?
- strategist: long-term impact. Does it solve today's problem but create tomorrow's?
Every agency votes exactly once. Answering a question or drafting text for review is reversible."""


async def deliberate(
    gateway: ModelGateway, ctx: CallContext, task: str, directive: str, recall: str
) -> tuple[Verdict, str | None]:
    """Return the verdict and the model that gave it. Any failure is a Guardian BLOCK.

    Only the task's own budget or time running out propagates (the task stops either way).
    """
    prompt = Prompt(SYSTEM).add("Task", task).add("Sovereign directive", directive)
    prompt.add("What the agent remembers", recall, shrinkable=True)
    try:
        model = gateway.ref_for(Role.PARLIAMENT).name
    except OpenKoiError as exc:
        return unavailable(str(exc)), None
    try:
        reply = await gateway.structured(ctx, Role.PARLIAMENT, Phase.PARLIAMENT, prompt, ParliamentReply)
    except (BudgetExceeded, TaskTimeout):
        raise
    except Exception as exc:  # fail closed on anything: parse errors, model errors, bugs
        return unavailable(f"{type(exc).__name__}: {exc}"), model
    return tally(reply), model
