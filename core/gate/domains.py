"""The trust domains a team may grant, and which domain a plan's category belongs to.

Domains are those of the floor's rules in force (``database``, ``deploy``, ``messaging`` …), the few that
always exist (``category_domains.toml``: a team may grant them before any rule names them) and the team's own
(``[gate] domains``). A plan's category (the evaluator rubric the planner chose) maps to a domain through the
shipped table, extended by ``[gate] categories``; the audit records both.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict

from core.errors import ConfigError, OpenKoiError
from core.gate.settings import GateSettings

SHIPPED_TABLE = "category_domains.toml"


class UnknownDomain(OpenKoiError):
    """A domain nobody defined; the message lists them and names the closest."""


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    domains: list[str]
    categories: dict[str, str]


@cache
def _shipped() -> _Table:
    text = resources.files("core.gate").joinpath(SHIPPED_TABLE).read_text(encoding="utf-8")
    return _Table.model_validate(tomllib.loads(text))


@dataclass(frozen=True)
class Domains:
    """The domains in force and the category map. Build it with ``Domains.of(settings, rule_domains)``."""

    names: tuple[str, ...]
    categories: dict[str, str]

    @classmethod
    def of(cls, settings: GateSettings, rule_domains: Iterable[str]) -> Domains:
        """The shipped domains, those of the rules in force and the team's, in that order; ``ConfigError``
        when ``[gate] categories`` maps a category to a domain that none of them defines."""
        shipped = _shipped()
        names = tuple(dict.fromkeys([*shipped.domains, *rule_domains, *settings.domains]))
        unknown = sorted({domain for domain in settings.categories.values() if domain not in names})
        if unknown:
            raise ConfigError(
                f"[gate] categories: unknown domain {', '.join(repr(d) for d in unknown)}; "
                f"add it to [gate] domains, or use one of: {', '.join(names)}"
            )
        return cls(names, {**shipped.categories, **settings.categories})

    def check(self, name: str) -> str:
        """``name`` as a known domain (lowercased); ``UnknownDomain`` with "did you mean" otherwise."""
        cleaned = name.strip().lower()
        if cleaned in self.names:
            return cleaned
        near = difflib.get_close_matches(cleaned, self.names, n=1, cutoff=0.6)
        hint = f" Did you mean {near[0]!r}?" if near else ""
        raise UnknownDomain(
            f"unknown trust domain {name!r}.{hint} Domains: {', '.join(self.names)} "
            "(a team adds its own with [gate] domains in config.toml)"
        )

    def of_category(self, category: str | None) -> str | None:
        """The domain a plan's category belongs to, if any."""
        return self.categories.get(category) if category else None
