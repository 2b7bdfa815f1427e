"""The /think grammar every chat platform shares: subcommands, flags at either end, verbatim descriptions."""

from __future__ import annotations

import re

import pytest

from bots.chat.commands import (
    HELP_TEXT,
    Approve,
    Cancel,
    Command,
    CommandError,
    CommandNamed,
    Deny,
    Help,
    ShowMind,
    ShowSoul,
    Status,
    Think,
    parse_command,
)


def refusal(text: str) -> str:
    """What parsing ``text`` as a /think command refuses it with (it must be refused)."""
    with pytest.raises(CommandError) as caught:
        parse_command(text)
    return str(caught.value)


# --- subcommands ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("   \n\t ", Help()),
        ("help", Help()),
        ("HELP", Help()),
        ("  Help  ", Help()),
        ("status", Status()),
        ("STATUS", Status()),
        ("status 3f9a", Status("3f9a")),
        ("Status 3F9A0B", Status("3f9a0b")),
        ("status\n3f9a", Status("3f9a")),
        ("cancel abcd1234", Cancel("abcd1234")),
        ("CANCEL ABCD1234", Cancel("abcd1234")),
        ("cancel " + "f" * 32, Cancel("f" * 32)),
        ("approve 0a1b", Approve("0a1b")),
        ("Approve DEADBEEF", Approve("deadbeef")),
        ("deny 0a1b", Deny("0a1b")),
        ("dEnY C0FFEE", Deny("c0ffee")),
    ],
)
def test_subcommands(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "status of the deploy pipeline",
        "status report for Q3",
        "status xyz1",  # not hex
        "status abc",  # too short
        "status " + "a" * 33,  # too long
        "status abcd efab",  # two ids
        "cancel the meeting",
        "cancel abcd please",
        "approve the PR once CI is green",
        "deny access to the staging bucket",
        "help me write a release note",
        "please cancel abcd",  # subcommand words count only as the first word
        "statuses",
    ],
)
def test_subcommand_words_with_another_shape_are_a_task(text: str) -> None:
    assert parse_command(text) == Think(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cancel", "`cancel` needs a task id: /think cancel <id>"),
        ("  Cancel  ", "`cancel` needs a task id: /think cancel <id>"),
        ("approve", "`approve` needs a confirmation or task id: /think approve <id>"),
        ("deny", "`deny` needs a confirmation or task id: /think deny <id>"),
    ],
)
def test_subcommands_that_need_an_id(text: str, message: str) -> None:
    assert refusal(text) == message


# --- tasks and flags ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deploy the site", Think("deploy the site")),
        ("  deploy the site \n", Think("deploy the site")),
        ("--simulate deploy the site", Think("deploy the site", simulate=True)),
        ("deploy the site --simulate", Think("deploy the site", simulate=True)),
        ("-i 5 deploy", Think("deploy", max_iterations=5)),
        ("deploy -i 5", Think("deploy", max_iterations=5)),
        ("deploy --iterations 7", Think("deploy", max_iterations=7)),
        ("deploy --iterations=7", Think("deploy", max_iterations=7)),
        ("--iterate 2 deploy", Think("deploy", max_iterations=2)),
        ("deploy -i 1", Think("deploy", max_iterations=1)),
        ("deploy -i 50", Think("deploy", max_iterations=50)),
        ("deploy --quality 0.9", Think("deploy", quality=0.9)),
        ("deploy --quality=.75", Think("deploy", quality=0.75)),
        ("deploy --quality 0", Think("deploy", quality=0.0)),
        ("deploy --quality 1", Think("deploy", quality=1.0)),
        ("deploy --budget 5", Think("deploy", budget_usd=5.0)),
        ("deploy --budget $5", Think("deploy", budget_usd=5.0)),
        ("deploy --budget=$2.50", Think("deploy", budget_usd=2.5)),
        ("deploy --budget 0.01", Think("deploy", budget_usd=0.01)),
        ('deploy --quality "0.8"', Think("deploy", quality=0.8)),
        ("deploy --budget “$3”", Think("deploy", budget_usd=3.0)),
        ("--simulate explain what rm -rf does", Think("explain what rm -rf does", simulate=True)),
        ("—Simulate deploy -I 2", Think("deploy", simulate=True, max_iterations=2)),  # autocapitalised
        (
            "--simulate -i 3 migrate the db --quality 0.9 --budget $1.5",
            Think("migrate the db", simulate=True, max_iterations=3, quality=0.9, budget_usd=1.5),
        ),
        (
            "--budget=4 --quality=0.5 write docs --iterations=2 --simulate",
            Think("write docs", simulate=True, max_iterations=2, quality=0.5, budget_usd=4.0),
        ),
        ("status of X --simulate", Think("status of X", simulate=True)),
        ("cancel the meeting -i 2", Think("cancel the meeting", max_iterations=2)),
    ],
)
def test_tasks_with_flags(text: str, expected: Think) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("explain what rm -rf does", "explain what rm -rf does"),
        ("compare -i 3 with --quality of the old one", "compare -i 3 with --quality of the old one"),
        ("explain git log --oneline main", "explain git log --oneline main"),  # not a near miss of a value flag
        ("use a – dash and — more", "use a – dash and — more"),
        ("git log --oneline -n 5 is what I ran", "git log --oneline -n 5 is what I ran"),
        ("-5 degrees outside, plan my day", "-5 degrees outside, plan my day"),  # a number is not a flag
    ],
)
def test_flag_like_tokens_in_the_middle_are_text(text: str, description: str) -> None:
    assert parse_command(text) == Think(description)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("line one\nline two", Think("line one\nline two")),
        (
            "--simulate  two  spaces\n\n  and a blank line  --budget 3",
            Think("two  spaces\n\n  and a blank line", True, budget_usd=3.0),
        ),
        ("tabs\tstay\tput", Think("tabs\tstay\tput")),
        ("résumé 日本語 🚀", Think("résumé 日本語 🚀")),
        ("--simulate résumé 日本語 🚀 -i 2", Think("résumé 日本語 🚀", simulate=True, max_iterations=2)),
        ("summarise “the report” and 'notes'", Think("summarise “the report” and 'notes'")),
    ],
)
def test_description_is_sliced_verbatim(text: str, expected: Think) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-- --simulate is a flag, explain it", Think("--simulate is a flag, explain it")),
        ("--simulate -- -i means what?", Think("-i means what?", simulate=True)),
        ("-- explain git log --oneline", Think("explain git log --oneline")),  # no trailing flags after --
        ("-- explain the budget flag --budget 5", Think("explain the budget flag --budget 5")),
        ("a -- b --simulate", Think("a -- b", simulate=True)),  # -- only terminates at the start
    ],
)
def test_double_dash_ends_option_parsing(text: str, expected: Think) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("—simulate deploy", Think("deploy", simulate=True)),  # em dash
        ("–simulate deploy", Think("deploy", simulate=True)),  # en dash
        ("deploy —simulate", Think("deploy", simulate=True)),
        ("deploy —budget $2", Think("deploy", budget_usd=2.0)),
        ("deploy —quality=0.7", Think("deploy", quality=0.7)),
        ("—i 4 deploy", Think("deploy", max_iterations=4)),
        ("— explain --simulate", Think("explain --simulate")),  # a lone em dash is an autocorrected --
    ],
)
def test_autocorrected_dashes_are_flags(text: str, expected: Think) -> None:
    assert parse_command(text) == expected


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("deploy -i 0", "-i needs a whole number from 1 to 50, got '0'"),
        ("deploy -i 51", "-i needs a whole number from 1 to 50, got '51'"),
        ("deploy -i x", "-i needs a whole number from 1 to 50, got 'x'"),
        ("deploy -i 2.5", "-i needs a whole number from 1 to 50, got '2.5'"),
        ("deploy --iterations=0", "--iterations needs a whole number from 1 to 50, got '0'"),
        ("deploy --quality 1.5", "--quality needs a number between 0 and 1, got '1.5'"),
        ("deploy --quality high", "--quality needs a number between 0 and 1, got 'high'"),
        ("deploy --quality nan", "--quality needs a number between 0 and 1, got 'nan'"),
        ("deploy --budget -1", "--budget needs a dollar amount above 0, like 5 or $2.50, got '-1'"),
        ("deploy --budget 0", "--budget needs a dollar amount above 0, like 5 or $2.50, got '0'"),
        ("deploy --budget $", "--budget needs a dollar amount above 0, like 5 or $2.50, got '$'"),
        ("deploy --budget", "--budget needs a dollar amount above 0, like 5 or $2.50"),
        ("-i", "-i needs a whole number from 1 to 50"),
        ("deploy --quality=", "--quality needs a number between 0 and 1"),
        ("-i 2 deploy -i 3", "-i was given twice"),
        ("--budget 5 deploy --budget=6", "--budget was given twice"),
        ("deploy --simulate=yes", "--simulate takes no value"),
    ],
)
def test_bad_values_name_the_flag_and_what_it_expects(text: str, message: str) -> None:
    assert refusal(text) == message


@pytest.mark.parametrize(
    ("text", "bad", "suggestion"),
    [
        ("--simulte deploy", "--simulte", "--simulate"),
        ("deploy --simulte", "--simulte", "--simulate"),
        ("deploy --quallity 0.9", "--quallity", "--quality"),
        ("--budjet 5 deploy", "--budjet", "--budget"),
        ("deploy --iteratons=3", "--iteratons", "--iterations"),
        ("-simulate deploy", "-simulate", "--simulate"),
        ("—simulat deploy", "--simulat", "--simulate"),
        ("deploy --budjet 5", "--budjet", "--budget"),  # a near miss before a value is a flag, not text
    ],
)
def test_unknown_option_suggests_the_closest(text: str, bad: str, suggestion: str) -> None:
    message = refusal(text)
    assert message.startswith(f"unknown option {bad} (did you mean {suggestion}?). ")
    assert "Options: --simulate, -i N, --quality Q, --budget USD" in message


@pytest.mark.parametrize("text", ["--verbose deploy", "explain rm -rf", "-x deploy"])
def test_unknown_option_without_a_close_match_still_lists_the_options(text: str) -> None:
    message = refusal(text)
    assert message.startswith("unknown option -")
    assert "did you mean" not in message
    assert "Options: --simulate, -i N, --quality Q, --budget USD" in message
    assert "/think -- <task>" in message


@pytest.mark.parametrize("text", ["--simulate", "-i 3", "--simulate --budget 2 --quality 0.5", "--", "--simulate --"])
def test_flags_without_a_task_are_an_error(text: str) -> None:
    assert refusal(text) == (
        "say what you want done: /think <task> [--simulate] [-i N] [--quality Q] [--budget USD] [--skill NAME]"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("--skill self-iterate fix the planner", Think("fix the planner", skill="self-iterate")),
        ("fix the planner --skill self-iterate", Think("fix the planner", skill="self-iterate")),
        ("fix it --skill=release_notes.v2 -i 2", Think("fix it", max_iterations=2, skill="release_notes.v2")),
        ("—skill “self-iterate” fix the planner", Think("fix the planner", skill="self-iterate")),
    ],
)
def test_skill_asked_for_by_name(text: str, expected: Think) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("--skill", "--skill needs a skill name, like self-iterate"),
        ("fix it --skill", "--skill needs a skill name, like self-iterate"),
        ("--skill ../etc fix it", "--skill needs a skill name, like self-iterate, got '../etc'"),
        ("--skill a --skill b fix it", "--skill was given twice"),
        ("--skil self-iterate fix it", "unknown option --skil (did you mean --skill?)"),
    ],
)
def test_bad_skill_flags_are_explained(text: str, message: str) -> None:
    assert message in refusal(text)


def test_command_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="needs a task id"):
        parse_command("cancel")


# --- help and values ------------------------------------------------------------------------------


def test_help_text_lists_every_form_in_plain_text() -> None:
    for form in [
        "/think <task> [--simulate] [-i N] [--quality Q] [--budget USD]",
        "/think status [id]",
        "/think cancel <id>",
        "/think approve <id>",
        "/think deny <id>",
        "/think help",
    ]:
        assert form in HELP_TEXT
    # No platform markup: each adapter decides how to format it.
    assert not re.search(r"[*_`~|]|<[@#!]|\]\(", HELP_TEXT)


def test_commands_are_frozen_and_comparable() -> None:
    think = parse_command("deploy --simulate")
    assert isinstance(think, Think)
    with pytest.raises(AttributeError):
        think.simulate = False  # type: ignore[misc]
    assert hash(think) == hash(Think("deploy", simulate=True))


# --- command names are never tasks (issue 16, defect 6) -------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("soul", ShowSoul()),
        ("Soul show", ShowSoul()),
        ("mind", ShowMind("agencies")),
        ("mind agencies", ShowMind("agencies")),
        ("mind dissent", ShowMind("dissent")),
        ("MIND calibrate", ShowMind("calibrate")),
        ("--simulate soul", ShowSoul()),
    ],
)
def test_soul_and_mind_are_views(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("init", "`openkoi init` is a terminal command: run it where openkoi is installed."),
        ("setup", "'setup' is not an openkoi command yet. Instead: `openkoi doctor` checks the configuration"),
        ("trust shwo", "Did you mean /think trust show? To run it as a task: /think -- trust shwo"),
        ("world domains", "`openkoi world domains` is a terminal command: run it where openkoi is installed."),
        ("world tools", "`openkoi world tools` is a terminal command: run it where openkoi is installed."),
        ("chat --resume abc1", "'chat' is not an openkoi command yet."),
        ("connect copilot", "'connect copilot' is not an openkoi command yet."),
        ("soul evolve", "'soul evolve' is not an openkoi command yet. Instead: edit the SOUL.md"),
        ("--simulate init", "To run it as a task: /think -- init"),
        ("reflect week", "`openkoi reflect week` is a terminal command: run it where openkoi is installed."),
        ("reflect week", "In chat: /think digest week."),
        ("learn", "`openkoi learn` is a terminal command"),
        ("mind parliament", "In chat: each task's thread shows its deliberation."),
        ("mind dissnt", "Did you mean /think mind dissent? To run it as a task: /think -- mind dissnt"),
    ],
)
def test_other_command_names_are_answered_never_tasks(text: str, said: str) -> None:
    parsed = parse_command(text)
    assert isinstance(parsed, CommandNamed), parsed
    assert said in parsed.answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-- init", Think("init")),
        ("-- soul show", Think("soul show")),
        ("update the changelog", Think("update the changelog")),
        ("chat with the team about the outage", Think("chat with the team about the outage")),
        ("task 0 --simulate", Think("task 0", simulate=True)),
        ("soul searching", Think("soul searching")),
        ("update the changelog --simulate", Think("update the changelog", simulate=True)),
    ],
)
def test_a_task_is_asked_for_with_dashes_or_several_words(text: str, expected: Command) -> None:
    assert parse_command(text) == expected
