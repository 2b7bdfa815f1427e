"""tally(): how parliament votes become a verdict — fail-closed whenever the vote is malformed."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from core.deliberation import parliament
from core.deliberation.verdict import NO_JUDGEMENT, Outcome, Verdict, invalid_ballots, tally, unavailable
from core.llm import echo
from core.llm.structured import json_schema_of
from core.outputs import Agency, AgencyVote, GuardianAssessment, ParliamentReply, Vote

ASSESSMENT = GuardianAssessment(reversibility="PARTIAL", blast_radius="MEDIUM", permission_level="STANDARD")
UNDOABLE = GuardianAssessment(reversibility="FULL", blast_radius="LOW", permission_level="NONE")


def vote(agency: Agency, choice: Vote = Vote.APPROVE, caveat: str | None = None) -> AgencyVote:
    return AgencyVote(agency=agency, vote=choice, reason=f"{agency.value} thinks so", caveat=caveat)


def reply(*votes: AgencyVote, assessment: GuardianAssessment = ASSESSMENT) -> ParliamentReply:
    """A five-key reply: the given votes, every other agency approving."""
    given = {v.agency: v for v in votes}
    ballots: dict[str, dict[str, object]] = {}
    for agency in Agency:
        v = given.get(agency, vote(agency))
        ballots[agency.value] = {"vote": v.vote, "reason": v.reason, "caveat": v.caveat}
    ballots["guardian"].update(assessment.model_dump())
    ballots["economist"]["estimated_cost_usd"] = 0.05
    return ParliamentReply.model_validate(ballots)


def full(**choices: Vote) -> ParliamentReply:
    """All five agencies; ``choices`` maps an agency's value to its vote (default APPROVE)."""
    return reply(*(vote(a, choices.get(a.value, Vote.APPROVE)) for a in Agency))


def test_all_approve() -> None:
    verdict = tally(full())
    assert verdict.outcome is Outcome.APPROVED
    assert not verdict.blocked
    assert not verdict.fail_closed
    assert verdict.caveats == ()
    assert verdict.dissent == ()
    assert verdict.assessment == ASSESSMENT
    assert [v.agency for v in verdict.votes] == list(Agency)


def test_guardian_block_blocks() -> None:
    verdict = tally(full(guardian=Vote.BLOCK))
    assert verdict.outcome is Outcome.GUARDIAN_BLOCK
    assert verdict.blocked
    assert verdict.reason == "guardian thinks so"
    assert not verdict.fail_closed  # a real vote, not a malformed one


def test_guardian_block_wins_over_dissent() -> None:
    verdict = tally(full(guardian=Vote.BLOCK, economist=Vote.BLOCK, empath=Vote.BLOCK))
    assert verdict.outcome is Outcome.GUARDIAN_BLOCK


@pytest.mark.parametrize("agency", [a for a in Agency if a is not Agency.GUARDIAN])
def test_one_non_guardian_block_is_approved_with_a_dissent_caveat(agency: Agency) -> None:
    verdict = tally(full(**{agency.value: Vote.BLOCK}))
    assert verdict.outcome is Outcome.APPROVED
    assert verdict.caveats == (f"{agency.value} (dissent): {agency.value} thinks so",)
    assert [v.agency for v in verdict.dissent] == [agency]


@pytest.mark.parametrize(
    "blockers",
    [("economist", "empath"), ("scholar", "strategist"), ("economist", "empath", "scholar", "strategist")],
)
def test_two_or_more_non_guardian_blocks_are_a_dissent_block(blockers: tuple[str, ...]) -> None:
    verdict = tally(full(**dict.fromkeys(blockers, Vote.BLOCK)))
    assert verdict.outcome is Outcome.DISSENT_BLOCK
    assert verdict.blocked
    for name in blockers:
        assert f"{name}: {name} thinks so" in verdict.reason
    assert {v.agency.value for v in verdict.dissent} == set(blockers)


def test_dissent_on_a_fully_reversible_low_risk_task_becomes_caveats() -> None:
    # What the Guardian judges safe to undo goes ahead; the dissent shapes the work instead.
    blockers = [vote(a, Vote.BLOCK) for a in Agency if a is not Agency.GUARDIAN]
    verdict = tally(reply(*blockers, assessment=UNDOABLE))
    assert verdict.outcome is Outcome.APPROVED
    assert len(verdict.dissent) == 4
    assert "economist (dissent): economist thinks so" in verdict.caveats
    partial = GuardianAssessment(reversibility="FULL", blast_radius="MEDIUM", permission_level="NONE")
    assert tally(reply(*blockers, assessment=partial)).outcome is Outcome.DISSENT_BLOCK


def test_the_reply_schema_requires_one_key_per_agency() -> None:
    # Grammar-constrained decoding cannot leave an agency out or vote twice: each is a required key.
    schema = ParliamentReply.model_json_schema()
    assert sorted(schema["required"]) == sorted(a.value for a in Agency)
    complete = reply().model_dump()
    del complete["guardian"]
    with pytest.raises(ValidationError, match="guardian"):
        ParliamentReply.model_validate(complete)


def test_the_guardian_states_its_assessment_in_its_own_ballot() -> None:
    schema = ParliamentReply.model_json_schema()
    guardian = schema["$defs"]["GuardianBallot"]
    assert {"reversibility", "blast_radius", "permission_level", "vote", "reason"} <= set(guardian["required"])


def test_caveats_are_collected() -> None:
    verdict = tally(
        reply(
            vote(Agency.STRATEGIST, Vote.APPROVE_WITH_CAVEAT, caveat="check the date first"),
            vote(Agency.GUARDIAN, Vote.APPROVE_WITH_CAVEAT, caveat="dry run only"),
            vote(Agency.EMPATH, Vote.APPROVE_WITH_CAVEAT),  # no caveat text: its reason stands in
            vote(Agency.SCHOLAR, Vote.BLOCK),
        )
    )
    assert verdict.outcome is Outcome.APPROVED
    # In agency order, then the dissent (the economist, not given, approves without a caveat).
    assert verdict.caveats == (
        "guardian: dry run only",
        "empath: empath thinks so",
        "strategist: check the date first",
        "scholar (dissent): scholar thinks so",
    )


def test_caveats_are_kept_on_a_block() -> None:
    verdict = tally(
        reply(vote(Agency.GUARDIAN, Vote.BLOCK), vote(Agency.ECONOMIST, Vote.APPROVE_WITH_CAVEAT, caveat="cheap"))
    )
    assert verdict.outcome is Outcome.GUARDIAN_BLOCK
    assert verdict.caveats == ("economist: cheap",)


def test_abstain_is_allowed() -> None:
    verdict = tally(full(economist=Vote.ABSTAIN, empath=Vote.ABSTAIN, scholar=Vote.ABSTAIN, strategist=Vote.ABSTAIN))
    assert verdict.outcome is Outcome.APPROVED
    assert verdict.caveats == ()


def test_guardian_abstaining_is_not_a_block() -> None:
    assert tally(full(guardian=Vote.ABSTAIN)).outcome is Outcome.APPROVED


def test_every_agency_has_a_vote_in_the_verdict() -> None:
    verdict = tally(reply(vote(Agency.GUARDIAN)))
    assert verdict.outcome is Outcome.APPROVED
    assert [v.agency for v in verdict.votes] == list(Agency)


def test_unavailable_is_a_fail_closed_guardian_block() -> None:
    verdict: Verdict = unavailable("model timed out")
    assert verdict.outcome is Outcome.GUARDIAN_BLOCK
    assert verdict.blocked and verdict.fail_closed
    assert verdict.assessment is None
    assert "model timed out" in verdict.reason


def test_the_economist_estimates_the_cost_and_only_the_economist() -> None:
    verdict = tally(full())
    estimates = {v.agency.value: v.estimate_usd for v in verdict.votes}
    assert estimates == {"guardian": None, "economist": 0.05, "empath": None, "scholar": None, "strategist": None}


# --- ballots that are not judgements are not votes ------------------------------------------------------

COPYABLE = echo.sources(parliament.SYSTEM, json_schema_of(ParliamentReply), allowed="Rotate the staging keys")


def said(agency: Agency, reason: str, choice: Vote = Vote.APPROVE, caveat: str | None = None) -> AgencyVote:
    return AgencyVote(agency=agency, vote=choice, reason=reason, caveat=caveat)


def judged(r: ParliamentReply) -> Verdict:
    return tally(r, invalid_ballots(r, COPYABLE))


def the_example() -> ParliamentReply:
    start = parliament.SYSTEM.index("{", parliament.SYSTEM.index("example"))
    example, _ = json.JSONDecoder().raw_decode(parliament.SYSTEM, start)
    return ParliamentReply.model_validate(example)


def test_the_prompts_example_is_never_a_valid_ballot() -> None:
    """Defect 1 (the tally's half): the Guardian's ballot was the prompt's own example, word for word
    ("A summary changes nothing.", FULL, LOW, NONE), and counted as an approval."""
    verdict = judged(the_example())
    assert verdict.outcome is Outcome.GUARDIAN_BLOCK and verdict.blocked and not verdict.fail_closed
    assert verdict.reason == (f"{NO_JUDGEMENT}: its reason copies the prompt's example ('A summary changes nothing.')")
    assert [v.agency for v in verdict.invalid] == list(Agency), "every ballot of the example is invalid"
    assert verdict.caveats == (), "an invalid ballot's caveat is not carried into the plan"


def test_an_invalid_ballot_other_than_the_guardians_counts_as_an_abstention() -> None:
    r = reply(
        said(Agency.SCHOLAR, "Stick to the facts in the report.", Vote.BLOCK),  # the example's words
        said(Agency.STRATEGIST, "Rotating keys breaks the nightly jobs.", Vote.BLOCK),
    )
    verdict = judged(r)
    assert verdict.outcome is Outcome.APPROVED, "one valid BLOCK is dissent, not a block"
    assert [(v.agency, v.invalid) for v in verdict.invalid] == [
        (Agency.SCHOLAR, "its reason copies the prompt's example ('Stick to the facts in the report.')")
    ]
    assert [v.agency for v in verdict.dissent] == [Agency.STRATEGIST]
    assert tally(r).outcome is Outcome.DISSENT_BLOCK, "counted as votes, the two BLOCKs would stop it"


def test_a_reason_repeated_word_for_word_is_invalid_for_every_agency_that_gives_it() -> None:
    verdict = judged(reply(said(Agency.GUARDIAN, "Looks fine."), said(Agency.EMPATH, "looks fine")))
    assert verdict.outcome is Outcome.GUARDIAN_BLOCK
    assert {(v.agency, v.invalid) for v in verdict.invalid} == {
        (Agency.GUARDIAN, "its reason repeats the empath's word for word"),
        (Agency.EMPATH, "its reason repeats the guardian's word for word"),
    }


def test_short_generic_reasons_of_its_own_are_valid() -> None:
    short = reply(
        *(said(a, r) for a, r in zip(Agency, ["Looks good.", "Cheap.", "Fine.", "Sure.", "Helps."], strict=True))
    )
    verdict = judged(short)
    assert verdict.outcome is Outcome.APPROVED and verdict.invalid == ()


def test_a_caveat_that_is_a_placeholder_makes_the_ballot_invalid() -> None:
    placeholder = said(
        Agency.EMPATH, "Mind the tone.", Vote.APPROVE_WITH_CAVEAT, "Required when vote is APPROVE_WITH_CAVEAT"
    )
    verdict = judged(reply(placeholder))
    assert verdict.outcome is Outcome.APPROVED and verdict.caveats == ()
    [invalid] = verdict.invalid
    assert invalid.invalid is not None and invalid.invalid.startswith("its caveat copies the schema's description")


def test_a_later_rule_may_invalidate_the_guardian_without_tallying_again() -> None:
    approved = tally(reply(assessment=UNDOABLE))
    assert approved.outcome is Outcome.APPROVED
    blocked = approved.with_invalid(Agency.GUARDIAN, "its FULL/LOW contradicts the rule floor (database.destroy)")
    assert blocked.outcome is Outcome.GUARDIAN_BLOCK
    assert blocked.reason == f"{NO_JUDGEMENT}: its FULL/LOW contradicts the rule floor (database.destroy)"
    assert blocked.assessment == UNDOABLE and len(blocked.votes) == len(Agency)
    failed = unavailable("the model is down")
    assert failed.with_invalid(Agency.GUARDIAN, "anything") is failed
