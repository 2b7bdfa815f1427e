"""The team's configuration of the gate, ``[gate]`` in ``config.toml``, and of its rule floor, ``[gate.floor]``.

    [gate]
    domains = ["payments-eu"]             # the team's own trust domains, besides the floor's
    categories = { "ledger-review" = "payments-eu" }   # a plan category (rubric) → its domain
    audit_retention_days = 90             # audit rows older than this are pruned

A team may add rules (inline or from a file, the same shape as the shipped ones, and free to use the
shipped term families), disable shipped rules by id (narrowing the floor is a deliberate, visible act)
and turn the embedder off (the floor then matches words only).

    [gate.floor]
    disabled = ["deploy.release"]            # staging deploys are routine here
    rules_file = "floor_rules.local.toml"   # [[rules]] tables, optional [terms]
    embedder = true

    [[gate.floor.rules]]
    id = "ledger.close"
    domain = "payments"
    description = "Closes the books for a period"
    patterns = ['close\\s+the\\s+(?:books|ledger)']
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from core.errors import ConfigError
from core.gate.spec import RulebookSpec, RuleSpec, check_regex, check_rules
from core.tomlfile import read_toml_model


class FloorSettings(BaseModel):
    """``[gate.floor]``: extra rules, disabled shipped rules, and whether the embedder may add matches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[RuleSpec] = Field(default_factory=list, description="extra rules, same shape as the shipped ones")
    rules_file: Path | None = Field(None, description="a TOML file of extra [[rules]] (and [terms])")
    terms: dict[str, list[str]] = Field(default_factory=dict, description="extra term families for extra rules")
    disabled: list[str] = Field(default_factory=list, description="ids of shipped rules that no longer apply")
    embedder: bool = Field(True, description="let the local embedder add matches for paraphrases")

    @field_validator("terms")
    @classmethod
    def _terms(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for family, terms in value.items():
            for index, term in enumerate(terms):
                try:
                    check_regex(term)
                except ValueError as exc:
                    raise ValueError(f"terms.{family}[{index}]: {exc}") from None
        return value


DomainName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=40)]


class GateSettings(BaseModel):
    """``[gate]``: the rule floor, the team's own trust domains, and the audit ledger."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    floor: FloorSettings = Field(default_factory=FloorSettings)
    domains: list[DomainName] = Field(
        default_factory=list, description="the team's own trust domains (a team rule may name them)"
    )
    categories: dict[str, DomainName] = Field(
        default_factory=dict, description="plan categories (rubric names) mapped to a domain, for the audit"
    )
    audit: bool = Field(True, description="record every gate decision and trust change in the audit ledger")
    audit_retention_days: int = Field(90, ge=1, le=36_500, description="audit rows older than this are pruned")


class _ExtraRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    terms: dict[str, list[str]] = {}
    rules: list[RuleSpec] = []


def _read_extra(path: Path) -> _ExtraRules:
    return read_toml_model(path, _ExtraRules, f"[gate.floor] rules_file {path}")


def assemble(book: RulebookSpec, settings: FloorSettings) -> tuple[list[RuleSpec], dict[str, list[str]]]:
    """The rules in force (shipped minus disabled, then the team's) and the term families they share.
    ``ConfigError`` when a disabled id is unknown, an extra rule reuses an id or redefines a shipped
    family, or names a family nobody defines."""
    shipped_ids = [rule.id for rule in book.rules]
    unknown = [rule_id for rule_id in settings.disabled if rule_id not in shipped_ids]
    if unknown:
        raise ConfigError(
            f"[gate.floor] disabled names rules that do not exist: {', '.join(unknown)} "
            f"(shipped rules: {', '.join(shipped_ids)})"
        )
    extra = list(settings.rules)
    terms = dict(settings.terms)
    if settings.rules_file is not None:
        from_file = _read_extra(settings.rules_file.expanduser())
        extra.extend(from_file.rules)
        for family, words in from_file.terms.items():
            if family in terms:
                raise ConfigError(
                    f"[gate.floor] term family {family!r} is defined both inline and in {settings.rules_file}"
                )
            terms[family] = words
    clashes = sorted(set(terms) & set(book.terms))
    if clashes:
        raise ConfigError(
            f"[gate.floor] terms redefine shipped families: {', '.join(clashes)} (name a new family, e.g. "
            f"'{clashes[0]}_local', and use it in your rule's combos)"
        )
    rules = [rule for rule in book.rules if rule.id not in settings.disabled] + extra
    families = {**book.terms, **terms}
    try:
        check_rules([*book.rules, *extra], set(families))
    except ValueError as exc:
        raise ConfigError(f"[gate.floor] {exc}") from exc
    return rules, families
