"""The Parliament: five agencies deliberate in one structured call. Fails closed."""

from __future__ import annotations

from core.deliberation.verdict import Verdict, invalid_ballots, tally, unavailable
from core.errors import StructuredOutputError
from core.llm import echo
from core.llm.gateway import CallContext, ModelGateway
from core.llm.structured import ask, json_schema_of
from core.models import Phase, Role
from core.outputs import ParliamentReply
from core.prompt import Prompt

SYSTEM = """You are the Parliament of an engineering team's agent. Before the agent acts, five agencies \
deliberate on the task. Each gives a one-sentence reason, then votes APPROVE, APPROVE_WITH_CAVEAT (give the \
caveat), ABSTAIN or BLOCK:
- guardian: safety and reversibility. First state reversibility (FULL/PARTIAL/NONE), blast radius \
(LOW/MEDIUM/HIGH) and the permission level required (NONE/STANDARD/ELEVATED). BLOCK anything irreversible \
or high-risk (deleting data, production changes, sending messages or money on someone's behalf, leaking \
secrets) unless the task makes the safeguards explicit.
- economist: cost and efficiency. First estimate the whole task's model cost in USD (estimated_cost_usd, \
all iterations, from the costs given below), then say whether it is worth the tokens and time.
- empath: human context. What does the person actually need; what tone?
- scholar: factual accuracy. Is there enough evidence; what must be checked?
- strategist: long-term impact. Does it solve today's problem but create tomorrow's?
BLOCK only for a concrete, serious problem you can name. Answering a question, explaining, reviewing, or \
drafting text or code for a person to read changes nothing and is fully reversible: approve it.

An example of the reply's shape, for "Summarise this incident report for the team":
{"guardian": {"reversibility": "FULL", "blast_radius": "LOW", "permission_level": "NONE", \
"reason": "A summary changes nothing.", "vote": "APPROVE"}, "economist": {"estimated_cost_usd": 0.01, \
"reason": "Short and cheap.", "vote": "APPROVE"}, "empath": {"reason": "Keep it blameless and clear.", "vote": "APPROVE_WITH_CAVEAT", \
"caveat": "No blame on individuals."}, "scholar": {"reason": "Stick to the facts in the report.", \
"vote": "APPROVE"}, "strategist": {"reason": "Helps the team learn.", "vote": "APPROVE"}}"""


def costs(gateway: ModelGateway, ctx: CallContext) -> str:
    """What the Economist estimates from: the executor's price and the task's budget (facts, not guesses)."""
    ref = gateway.ref_for(Role.EXECUTOR)
    prices = gateway.prices(ref)
    if prices.known:
        price = (
            f"{ref.name} does the work at ${prices.input * 1_000_000:.2f} per million input tokens and "
            f"${prices.output * 1_000_000:.2f} per million output tokens."
        )
    else:
        price = f"{ref.name} does the work; its price is not known (estimate 0 if it runs locally)."
    if ctx.budget is None:
        return price
    return f"{price} Budget: at most ${ctx.budget.max_cost_usd:.2f} and {ctx.budget.token_budget:,} tokens."


async def deliberate(
    gateway: ModelGateway, ctx: CallContext, task: str, directive: str, recall: str
) -> tuple[Verdict, str | None]:
    """Return the verdict and the model that gave it. Fails closed, and says what failed:

    - a reply that is still malformed after the repair attempt is a Guardian BLOCK a person may
      override ("deliberation unavailable");
    - a ballot that copies the prompt (after the repair attempt) or repeats another agency's reason is
      invalid: the Guardian's fails closed ("the Guardian gave no usable judgement"), any other counts as
      an abstention (see ``core.deliberation.verdict``);
    - a model that cannot be used (unreachable, key rejected, unknown, unconfigured) raises — the
      task fails with "model unavailable", since there was no deliberation to override;
    - the task's own budget or time running out propagates (the task stops either way).
    """
    prompt = Prompt(SYSTEM).add("Task", task).add("Sovereign directive", directive)
    prompt.add("Costs", costs(gateway, ctx))
    prompt.add("What the agent remembers", recall, shrinkable=True)
    model = gateway.ref_for(Role.PARLIAMENT).name
    try:
        reply = await ask(gateway, ctx, Role.PARLIAMENT, Phase.PARLIAMENT, prompt, ParliamentReply, echoes="keep")
    except StructuredOutputError as exc:
        return unavailable(f"the Parliament's reply was malformed ({exc.detail})"), model
    # Judged strictly against the person's task alone: the example is never a valid ballot, whatever
    # the task quotes.
    copyable = echo.sources(SYSTEM, json_schema_of(ParliamentReply), allowed=task)
    return tally(reply, invalid_ballots(reply, copyable)), model
