"""A prompt built from named sections, some of which may be shrunk when a model's context overflows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ELISION = "\n[… {n} characters omitted to fit the model's context …]\n"


@dataclass
class Section:
    title: str
    text: str
    shrinkable: bool = False


@dataclass
class Prompt:
    system: str
    sections: list[Section] = field(default_factory=list)
    # Messages appended after the user turn (tool calls and their results, repair requests).
    tail: list[dict[str, Any]] = field(default_factory=list)

    def add(self, title: str, text: str, shrinkable: bool = False) -> Prompt:
        if text.strip():
            self.sections.append(Section(title, text.strip(), shrinkable))
        return self

    def user_text(self) -> str:
        return "\n\n".join(f"## {s.title}\n{s.text}" if s.title else s.text for s in self.sections)

    def messages(self) -> list[dict[str, Any]]:
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user_text()},
            *self.tail,
        ]

    def chars(self) -> int:
        return len(self.system) + len(self.user_text()) + sum(len(str(m.get("content") or "")) for m in self.tail)

    def shrink(self) -> bool:
        """Halve the largest shrinkable section (keeping its head and tail). False if none is left."""
        candidates = [s for s in self.sections if s.shrinkable and len(s.text) > 400]
        tool_results = [m for m in self.tail if m.get("role") == "tool" and len(str(m.get("content"))) > 400]
        if not candidates and not tool_results:
            return False
        sizes: list[tuple[int, Section | dict[str, Any]]] = [(len(s.text), s) for s in candidates]
        sizes += [(len(str(m["content"])), m) for m in tool_results]
        _, target = max(sizes, key=lambda pair: pair[0])
        text = target.text if isinstance(target, Section) else str(target["content"])
        keep = len(text) // 4
        shrunk = text[:keep] + ELISION.format(n=len(text) - 2 * keep) + text[-keep:]
        if isinstance(target, Section):
            target.text = shrunk
        else:
            target["content"] = shrunk
        return True
