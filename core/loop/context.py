"""Token-frugal context for iterations 2+: delta feedback and compressed previous output.

Instead of resending the whole history, a refinement sees the task, the unresolved findings
with their fixes, and the previous output compressed to the regions that matter (headings,
the opening, lines the findings quote, lines that just changed — each with 3 lines around).
Everything kept is verbatim, so the executor can answer with exact find/replace edits.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable

from core.outputs import Edit, Finding

CONTEXT_LINES = 3
COMPRESS_MIN_LINES = 40  # shorter outputs are sent whole


def output_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def changed_lines(previous: str, current: str) -> set[int]:
    """Indexes of lines in ``current`` that differ from ``previous``."""
    matcher = difflib.SequenceMatcher(a=previous.splitlines(), b=current.splitlines(), autojunk=False)
    changed: set[int] = set()
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            changed.update(range(j1, max(j2, j1 + 1)))
    return changed


def change_ratio(previous: str, current: str) -> float:
    lines = max(1, len(current.splitlines()))
    return min(1.0, len(changed_lines(previous, current)) / lines)


def diff_hunks(previous: str, current: str) -> str:
    return "\n".join(
        difflib.unified_diff(
            previous.splitlines(), current.splitlines(), "previous", "current", n=CONTEXT_LINES, lineterm=""
        )
    )


def _is_landmark(line: str) -> bool:
    stripped = line.lstrip()
    return stripped.startswith(("#", "```", "def ", "class ", "async def ", "function ", "fn ", "CREATE ", "@"))


def compress(output: str, quotes: Iterable[str], changed: set[int] | None = None) -> str:
    """Keep headings/landmarks, the first paragraph, quoted and changed lines (±3); elide the rest."""
    lines = output.splitlines()
    if len(lines) < COMPRESS_MIN_LINES:
        return output
    keep: set[int] = set()
    for n, line in enumerate(lines):  # the opening paragraph
        keep.add(n)
        if not line.strip() and n > 0:
            break
    focus = set(changed or ())
    for quote in quotes:
        first = quote.strip().splitlines()[0].strip() if quote.strip() else ""
        if first:
            focus.update(n for n, line in enumerate(lines) if first in line)
    for n in focus:
        keep.update(range(max(0, n - CONTEXT_LINES), min(len(lines), n + CONTEXT_LINES + 1)))
    keep.update(n for n, line in enumerate(lines) if _is_landmark(line))
    result: list[str] = []
    skipped = 0
    for n, line in enumerate(lines):
        if n in keep:
            if skipped:
                result.append(f"[… {skipped} unchanged lines omitted …]")
                skipped = 0
            result.append(line)
        else:
            skipped += 1
    if skipped:
        result.append(f"[… {skipped} unchanged lines omitted …]")
    return "\n".join(result)


def delta_feedback(findings: Iterable[Finding]) -> str:
    """Unresolved findings, most severe first, each with its fix."""
    order = {"critical": 0, "major": 1, "minor": 2}
    ranked = sorted(findings, key=lambda f: order.get(f.severity.value, 3))
    lines = []
    for n, f in enumerate(ranked, 1):
        lines.append(f"{n}. [{f.severity.value}] {f.dimension}: {f.description}")
        lines.append(f"   Fix: {f.fix}")
        if f.quote:
            lines.append(f"   At: {f.quote.strip()[:300]}")
    return "\n".join(lines)


def apply_edits(previous: str, edits: list[Edit]) -> str:
    """Apply find/replace edits in order; each ``find`` must occur exactly once. Raises ValueError."""
    text = previous
    for n, edit in enumerate(edits, 1):
        count = text.count(edit.find)
        if count != 1:
            where = "does not occur" if count == 0 else f"occurs {count} times"
            raise ValueError(f"edit {n}: the find text {where} in the previous output: {edit.find[:120]!r}")
        text = text.replace(edit.find, edit.replace, 1)
    return text
