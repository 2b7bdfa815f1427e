"""Token-frugal context: exact find/replace edits, compression, delta feedback, change measures."""

from __future__ import annotations

import re

import pytest

from core.loop.context import (
    COMPRESS_MIN_LINES,
    CONTEXT_LINES,
    apply_edits,
    change_ratio,
    changed_lines,
    compress,
    delta_feedback,
    output_hash,
)
from core.outputs import Edit, Finding, Severity

MARKER = re.compile(r"^\[… (\d+) unchanged lines omitted …\]$")


# --- apply_edits ---------------------------------------------------------------------------------


def test_single_edit_replaces_the_unique_occurrence() -> None:
    assert apply_edits("alpha beta gamma", [Edit(find="beta", replace="BETA")]) == "alpha BETA gamma"


def refusal(previous: str, find: str) -> str:
    """Why ``apply_edits`` refuses the one edit that replaces ``find`` in ``previous``."""
    with pytest.raises(ValueError) as caught:
        apply_edits(previous, [Edit(find=find, replace="x")])
    return str(caught.value)


def test_edit_that_does_not_occur_raises_helpful_error() -> None:
    message = refusal("alpha beta", "delta")
    assert "edit 1" in message
    assert "does not occur" in message
    assert "'delta'" in message


def test_edit_that_occurs_twice_raises_helpful_error() -> None:
    message = refusal("beta alpha beta", "beta")
    assert "occurs 2 times" in message
    assert "'beta'" in message


def test_error_names_the_failing_edit_by_position() -> None:
    edits = [Edit(find="one", replace="1"), Edit(find="missing", replace="2")]
    with pytest.raises(ValueError, match=r"^edit 2: "):
        apply_edits("one two", edits)


def test_edits_apply_in_order() -> None:
    # The second edit finds text that only exists after the first one ran.
    edits = [Edit(find="cat", replace="dog"), Edit(find="dog", replace="wolf")]
    assert apply_edits("the cat sat", edits) == "the wolf sat"


def test_earlier_edit_can_make_a_later_find_ambiguous() -> None:
    edits = [Edit(find="a1", replace="b2"), Edit(find="b2", replace="c3")]
    with pytest.raises(ValueError, match=r"edit 2: .*occurs 2 times"):
        apply_edits("a1 b2", edits)


def test_non_ascii_text() -> None:
    previous = "Grüße, 東京 🚀\nZeile zwei"
    edits = [Edit(find="東京", replace="大阪"), Edit(find="🚀", replace="🛸 ✓"), Edit(find="Grüße", replace="Hallo")]
    assert apply_edits(previous, edits) == "Hallo, 大阪 🛸 ✓\nZeile zwei"


def test_multiline_find() -> None:
    previous = "line one\nline two\nline three\n"
    assert apply_edits(previous, [Edit(find="one\nline two", replace="1\n2")]) == "line 1\n2\nline three\n"


def test_no_edits_returns_input_unchanged() -> None:
    assert apply_edits("unchanged", []) == "unchanged"


# --- compress -----------------------------------------------------------------------------------------


def document(n: int = 100) -> list[str]:
    """A long output: a title, an opening paragraph, numbered body rows and one section heading."""
    lines = ["# Report", "This report opens with a paragraph", "that spans two lines.", ""]
    lines += [f"row {i:03d}: ordinary body text" for i in range(len(lines), n)]
    if n > 50:
        lines[50] = "## Section two"
    return lines


def kept_and_omitted(compressed: str) -> tuple[list[str], int]:
    kept: list[str] = []
    omitted = 0
    for line in compressed.splitlines():
        match = MARKER.match(line)
        if match:
            omitted += int(match.group(1))
        else:
            kept.append(line)
    return kept, omitted


def test_short_output_is_unchanged() -> None:
    text = "\n".join(document(COMPRESS_MIN_LINES - 1)) + "\n"
    assert compress(text, quotes=["row 010"], changed={5}) == text


def test_output_at_the_minimum_length_is_compressed() -> None:
    lines = document(COMPRESS_MIN_LINES)
    compressed = compress("\n".join(lines), quotes=[]).splitlines()
    assert compressed == [*lines[:4], f"[… {COMPRESS_MIN_LINES - 4} unchanged lines omitted …]"]


def test_long_output_keeps_landmarks_opening_quotes_and_changes() -> None:
    lines = document(100)
    text = "\n".join(lines)
    compressed = compress(text, quotes=["row 070: ordinary body text"], changed={85})
    kept, omitted = kept_and_omitted(compressed)

    expected = set(range(4))  # the opening paragraph up to and including its blank line
    expected.add(50)  # the heading
    expected.update(range(70 - CONTEXT_LINES, 70 + CONTEXT_LINES + 1))  # quoted line ±3
    expected.update(range(85 - CONTEXT_LINES, 85 + CONTEXT_LINES + 1))  # changed line ±3
    assert kept == [lines[n] for n in sorted(expected)]  # verbatim and in order
    assert omitted == len(lines) - len(expected)
    # Something that is neither is elided.
    assert "row 030: ordinary body text" not in compressed
    assert "row 099: ordinary body text" not in compressed
    # The elision markers sit exactly where lines were dropped.
    assert compressed.splitlines()[4] == "[… 46 unchanged lines omitted …]"
    assert compressed.splitlines()[-1] == "[… 11 unchanged lines omitted …]"


def test_quote_matching_uses_its_first_line_stripped() -> None:
    lines = document(100)
    quote = "   row 060: ordinary body text\nand a second line that is not in the output"
    kept, _ = kept_and_omitted(compress("\n".join(lines), quotes=[quote]))
    assert lines[60] in kept
    assert lines[57] in kept and lines[63] in kept
    assert lines[56] not in kept and lines[64] not in kept


def test_blank_quotes_are_ignored() -> None:
    lines = document(100)
    kept, _ = kept_and_omitted(compress("\n".join(lines), quotes=["", "   \n  "]))
    assert kept == [lines[n] for n in (0, 1, 2, 3, 50)]


def test_code_landmarks_are_kept() -> None:
    lines = document(100)
    lines[20] = "def compute(x):"
    lines[30] = "class Widget:"
    lines[40] = "```python"
    kept, _ = kept_and_omitted(compress("\n".join(lines), quotes=[]))
    for n in (20, 30, 40):
        assert lines[n] in kept


def test_context_near_the_edges_is_clamped() -> None:
    lines = document(100)
    kept, omitted = kept_and_omitted(compress("\n".join(lines), quotes=[], changed={99}))
    assert kept[-1] == lines[99]
    assert kept[-4:] == lines[96:100]
    assert omitted == 100 - 5 - 4


def test_a_quote_from_a_kept_region_can_be_used_as_an_exact_edit() -> None:
    lines = document(100)
    lines[70] = "row 070: Grüße aus 東京 🚀, with a typo: teh value"
    original = "\n".join(lines)
    compressed = compress(original, quotes=["Grüße aus 東京"])
    shown = compressed.splitlines()
    # The executor sees only the compressed text and quotes two adjacent kept lines back verbatim.
    at = shown.index(lines[70])
    find = "\n".join(shown[at - 1 : at + 1])
    assert not MARKER.match(shown[at - 1])
    revised = apply_edits(original, [Edit(find=find, replace=find.replace("teh value", "the value"))])
    assert revised == original.replace("teh value", "the value")


# --- delta_feedback -----------------------------------------------------------------------------------


def finding(severity: Severity, name: str, quote: str | None = None) -> Finding:
    return Finding(
        severity=severity,
        dimension=f"dim-{name}",
        description=f"problem {name}",
        fix=f"fix {name} like so",
        quote=quote,
    )


def test_delta_feedback_sorted_by_severity_with_every_fix() -> None:
    findings = [
        finding(Severity.MINOR, "m"),
        finding(Severity.CRITICAL, "c", quote="  the quoted bit  "),
        finding(Severity.MAJOR, "j"),
        finding(Severity.MINOR, "m2"),
    ]
    text = delta_feedback(findings)
    for f in findings:
        assert f"Fix: {f.fix}" in text
        assert f.description in text
    positions = [text.index(f"problem {name}") for name in ("c", "j", "m", "m2")]
    assert positions == sorted(positions)  # critical, major, minor (stable among equals)
    assert text.splitlines()[0] == "1. [critical] dim-c: problem c"
    assert "   At: the quoted bit" in text.splitlines()
    assert text.count("At:") == 1  # only the finding that has a quote


def test_delta_feedback_empty() -> None:
    assert delta_feedback([]) == ""


def test_delta_feedback_truncates_long_quotes() -> None:
    text = delta_feedback([finding(Severity.MAJOR, "x", quote="q" * 600)])
    at_line = next(line for line in text.splitlines() if line.strip().startswith("At:"))
    assert at_line.strip() == "At: " + "q" * 300


# --- change measures ----------------------------------------------------------------------------------


def test_changed_lines_replacement() -> None:
    assert changed_lines("a\nb\nc", "a\nB\nc") == {1}


def test_changed_lines_insertion() -> None:
    assert changed_lines("a\nb\nc", "a\nb\nnew\nc") == {2}


def test_changed_lines_deletion_marks_the_line_at_the_gap() -> None:
    assert changed_lines("a\nb\nc\nd", "a\nc\nd") == {1}


def test_changed_lines_identical() -> None:
    assert changed_lines("a\nb", "a\nb") == set()


@pytest.mark.parametrize(
    ("previous", "current", "ratio"),
    [
        ("a\nb\nc\nd", "a\nb\nc\nd", 0.0),
        ("a\nb\nc\nd", "a\nB\nc\nd", 0.25),
        ("a\nb\nc\nd", "a\nB\nC\nd", 0.5),
        ("a\nb", "x\ny", 1.0),
        ("", "", 0.0),
        ("a\nb\nc", "", 1.0),  # everything deleted: clamped to 1
    ],
)
def test_change_ratio(previous: str, current: str, ratio: float) -> None:
    assert change_ratio(previous, current) == pytest.approx(ratio)


def test_change_ratio_stays_within_bounds() -> None:
    assert 0.0 <= change_ratio("a\nb\nc\nd\ne", "a") <= 1.0


def test_output_hash() -> None:
    h = output_hash("Grüße, 東京 🚀")
    assert re.fullmatch(r"[0-9a-f]{64}", h)
    assert output_hash("Grüße, 東京 🚀") == h
    assert output_hash("Grüße, 東京 🚀 ") != h
    assert output_hash("a") != output_hash("A")
    # A known SHA-256 test vector pins the algorithm and the UTF-8 encoding.
    assert output_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
