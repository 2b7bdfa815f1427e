"""Usage patterns: what the team keeps asking for, when, and in which order.

``find_patterns`` is pure and synchronous (``core.reflection.mining`` runs it in a worker thread):
given the asked tasks and one unit vector per normalised task text, it returns

- **recurring** tasks: clusters of similar texts (cosine ≥ ``similarity``, see ``clustering``);
  support = tasks in the cluster, confidence = distinct days (team's timezone) / support, so the
  same request retried five times in an afternoon is not a habit;
- **time** patterns: a cluster's tasks on one weekday and part of the day in the team's timezone;
  support = tasks in that slot, confidence = their share of the cluster, over ≥ ``min_samples``
  distinct weeks;
- **sequences**: a task of cluster B asked by the same requester, or in the same channel, within
  ``sequence_window_minutes`` after one of cluster A; support = A tasks followed so, confidence =
  that / all A tasks (P(B within the window | A)).

Only patterns with support ≥ ``min_samples`` and confidence ≥ ``min_confidence`` are returned. Each
has a ``key`` that depends on what happened, never on row order or the run: a cluster is named by the
hash of its earliest task's text.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from core.config import PatternSettings
from core.reflection.clustering import cluster
from core.store.patterns import AskedTask
from core.store.proposals import ProposalKind

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Parts of the day, by starting hour: a time pattern's slot is (weekday, part).
PARTS = ((0, "night"), (6, "morning"), (12, "afternoon"), (18, "evening"))

_SPACES = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """What makes two task texts the same text: case, spacing and surrounding punctuation do not."""
    return _SPACES.sub(" ", text).strip().strip(".!?;:,'\"`").strip().lower()


def text_hash(embedder: str, normalised: str) -> str:
    """The vector cache's key: a different embedder is a different key."""
    return hashlib.sha256(f"{embedder}\0{normalised}".encode()).hexdigest()


def part_of_day(hour: int) -> str:
    return next(name for start, name in reversed(PARTS) if hour >= start)


@dataclass(frozen=True)
class Pattern:
    key: str
    kind: ProposalKind
    title: str  # what is asked, in one line (the cluster's earliest text; "A, then B" for a sequence)
    when: str  # "Monday morning (08:00-10:59, Europe/Berlin)", "on 4 days", "within 60 minutes"
    support: int
    confidence: float
    evidence: tuple[str, ...]  # task ids, oldest first
    examples: tuple[str, ...]  # distinct task texts, most frequent first (at most five)
    covers: tuple[str, ...] = ()  # keys of less specific patterns this one makes redundant as a proposal


@dataclass(frozen=True)
class _Asked:
    task: AskedTask
    at: datetime  # in the team's timezone
    cluster: int
    ts: float  # ``at`` as a POSIX timestamp: compared by the million in ``_sequences``


@dataclass(frozen=True)
class _Cluster:
    key: str  # the hash part of the pattern keys
    title: str
    tasks: list[_Asked]
    examples: tuple[str, ...]


def _clusters(
    tasks: list[AskedTask],
    vectors: dict[str, npt.NDArray[np.float32]],
    threshold: float,
    tz: ZoneInfo,
    min_size: int,
) -> list[_Cluster]:
    """The clusters of at least ``min_size`` tasks (smaller ones can support no pattern)."""
    normalised = {raw: normalise_text(raw) for raw in {t.text for t in tasks}}
    texts = sorted(set(normalised.values()) & vectors.keys(), key=lambda s: text_hash("", s))
    if not texts:
        return []
    labels = cluster(np.stack([vectors[s] for s in texts]), threshold)
    label_of = {s: labels[i] for i, s in enumerate(texts)}
    by_label: dict[int, list[AskedTask]] = defaultdict(list)
    for task in tasks:  # oldest first (created_at, task id): the order the store returns them in
        label = label_of.get(normalised[task.text])
        if label is not None:
            by_label[label].append(task)
    found = []
    # Most texts are one-offs: their clusters are skipped before any per-task work (100,000 events,
    # 40,000 singletons: 2.5 s of datetimes, sorting and hashing saved).
    for label, group in by_label.items():
        if len(group) < min_size:
            continue
        members = []
        for t in group:
            at = datetime.fromisoformat(t.created_at).astimezone(tz)
            members.append(_Asked(t, at, label, at.timestamp()))
        members.sort(key=lambda a: (a.at, a.task.task_id))
        first = members[0].task.text
        counts = Counter(a.task.text.strip() for a in members)
        examples = tuple(text for text, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5])
        key = hashlib.sha256(normalise_text(first).encode()).hexdigest()[:12]
        found.append(_Cluster(key, first.strip(), members, examples))
    return sorted(found, key=lambda c: c.key)


def _ids(asked: list[_Asked]) -> tuple[str, ...]:
    ordered = sorted(asked, key=lambda a: (a.at, a.task.task_id))
    return tuple(dict.fromkeys(a.task.task_id for a in ordered))


def _qualifies(support: int, confidence: float, settings: PatternSettings) -> bool:
    return support >= settings.min_samples and round(confidence, 4) >= settings.min_confidence


def _recurring(c: _Cluster, settings: PatternSettings) -> list[Pattern]:
    days = {a.at.date() for a in c.tasks}
    if not _qualifies(len(c.tasks), len(days) / len(c.tasks), settings):
        return []
    return [
        Pattern(
            key=f"recurring:{c.key}",
            kind="recurring",
            title=c.title,
            when=f"on {len(days)} different days",
            support=len(c.tasks),
            confidence=round(len(days) / len(c.tasks), 4),
            evidence=_ids(c.tasks),
            examples=c.examples,
        )
    ]


def _time(c: _Cluster, settings: PatternSettings, tz: ZoneInfo) -> list[Pattern]:
    slots: dict[tuple[int, str], list[_Asked]] = defaultdict(list)
    for a in c.tasks:
        slots[(a.at.weekday(), part_of_day(a.at.hour))].append(a)
    found = []
    for (weekday, part), members in sorted(slots.items()):
        weeks = {a.at.isocalendar()[:2] for a in members}
        if len(weeks) < settings.min_samples or not _qualifies(len(members), len(members) / len(c.tasks), settings):
            continue
        first, last = min(a.at.time() for a in members), max(a.at.time() for a in members)
        found.append(
            Pattern(
                key=f"time:{c.key}:{weekday}:{part}",
                kind="time",
                title=c.title,
                when=f"{WEEKDAYS[weekday]} {part} ({first:%H:%M}-{last:%H:%M}, {tz.key})",
                support=len(members),
                confidence=round(len(members) / len(c.tasks), 4),
                evidence=_ids(members),
                examples=c.examples,
                covers=(f"recurring:{c.key}",),
            )
        )
    return found


def _actors(task: AskedTask) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    if task.requester:
        found.append(("requester", task.requester))
    if task.channel:
        found.append(("channel", task.platform, task.channel))
    return found


def _sequences(clusters: list[_Cluster], settings: PatternSettings) -> list[Pattern]:
    window = settings.sequence_window_minutes * 60.0
    by_index = {c.tasks[0].cluster: c for c in clusters}
    timeline: dict[tuple[str, ...], list[_Asked]] = defaultdict(list)
    for c in clusters:
        for a in c.tasks:
            for actor in _actors(a.task):
                timeline[actor].append(a)
    # For each A task: the clusters that follow it, each with the first following task.
    followers: dict[str, dict[int, _Asked]] = defaultdict(dict)
    for events in timeline.values():
        events.sort(key=lambda a: (a.ts, a.task.task_id))
        times = [a.ts for a in events]
        count = len(events)
        for i, a in enumerate(events):
            limit, j, mine = times[i] + window, i + 1, None
            while j < count and times[j] <= limit:
                b = events[j]
                j += 1
                if b.cluster == a.cluster:
                    continue
                if mine is None:
                    mine = followers[a.task.task_id]
                # In time order within this actor; another actor (requester vs channel) may have found
                # an earlier one.
                seen = mine.get(b.cluster)
                if seen is None or (b.ts, b.task.task_id) < (seen.ts, seen.task.task_id):
                    mine[b.cluster] = b
    pairs: dict[tuple[int, int], list[tuple[_Asked, _Asked]]] = defaultdict(list)
    for c in clusters:
        for a in c.tasks:
            for label, b in followers.get(a.task.task_id, {}).items():
                pairs[(a.cluster, label)].append((a, b))
    found = []
    minutes = f"{settings.sequence_window_minutes:g}"
    for (la, lb), occurrences in pairs.items():
        first, then = by_index[la], by_index[lb]
        if not _qualifies(len(occurrences), len(occurrences) / len(first.tasks), settings):
            continue
        found.append(
            Pattern(
                key=f"sequence:{first.key}>{then.key}",
                kind="sequence",
                title=f"{first.title}, then {then.title}",
                when=f"{then.title!r} within {minutes} minutes of {first.title!r}, by the same person or channel",
                support=len(occurrences),
                confidence=round(len(occurrences) / len(first.tasks), 4),
                evidence=_ids([a for a, _ in occurrences] + [b for _, b in occurrences]),
                examples=first.examples[:3] + then.examples[:3],
                covers=(f"recurring:{first.key}", f"recurring:{then.key}"),
            )
        )
    return found


def find_patterns(
    tasks: list[AskedTask], vectors: dict[str, npt.NDArray[np.float32]], settings: PatternSettings, tz: ZoneInfo
) -> list[Pattern]:
    """The qualifying patterns among ``tasks``; ``vectors`` maps normalised texts to unit vectors (a
    task whose text has none yet is left out). Sorted by kind and key."""
    clusters = _clusters(tasks, vectors, settings.similarity, tz, settings.min_samples)
    found: list[Pattern] = []
    for c in clusters:
        found += _recurring(c, settings)
        found += _time(c, settings, tz)
    found += _sequences(clusters, settings)
    qualifying = [p for p in found if p.support >= settings.min_samples and p.confidence >= settings.min_confidence]
    return sorted(qualifying, key=lambda p: (p.kind, p.key))
