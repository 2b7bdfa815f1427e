"""The gate as the engine meets it: the rule floor loaded once per configuration, the screen run off the event
loop, and the decision made from the floor, the verdict and the trust levels in force, then audited."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from core.deliberation.verdict import Verdict
from core.errors import ConfigError, GateUnavailable
from core.gate.decision import GateDecision, decide
from core.gate.domains import Domains
from core.gate.floor import Floor, FloorResult
from core.gate.ledger import TrustLedger
from core.gate.settings import FloorSettings, GateSettings
from core.gate.trust import plain_levels
from core.store import Store

_floors: dict[str, Floor] = {}
_floors_lock = threading.Lock()


def floor_for(settings: FloorSettings) -> Floor:
    """The floor for ``settings``, loaded once per process and configuration (its embedder embeds the
    rules' examples once). ``ConfigError`` names what is wrong with ``[gate.floor]``."""
    key = settings.model_dump_json()
    if settings.rules_file is not None:
        path = settings.rules_file.expanduser()
        # An edited rules file is read again: its modification time is part of the key.
        key += f"|{path.stat().st_mtime_ns if path.exists() else 'missing'}"
    with _floors_lock:
        floor = _floors.get(key)
        if floor is None:
            floor = _floors[key] = Floor.load(settings)
        return floor


@dataclass
class Gatekeeper:
    settings: GateSettings
    store: Store
    _ledger: TrustLedger | None = field(default=None, repr=False)

    @property
    def floor(self) -> Floor:
        return floor_for(self.settings.floor)

    @property
    def ledger(self) -> TrustLedger:
        """Grants and the audit. ``ConfigError`` when ``[gate]`` or ``[gate.floor]`` is wrong."""
        if self._ledger is None:
            rule_domains = [rule.domain for rule in self.floor.rule_specs]
            self._ledger = TrustLedger(self.store, self.settings, Domains.of(self.settings, rule_domains))
        return self._ledger

    def check(self) -> None:
        """Load the floor and the domains now, so that a configuration error is said before a task starts."""
        _ = self.ledger

    async def screen(self, text: str) -> FloorResult:
        """The floor's result on a task, before any model is asked; off the event loop (the embedder, when
        on, costs milliseconds per clause). ``GateUnavailable`` when the gate's configuration is wrong: a task
        that cannot be screened does not run."""
        try:
            floor = await asyncio.to_thread(lambda: self.floor)
            return await asyncio.to_thread(floor.screen, text)
        except ConfigError as exc:
            raise GateUnavailable(str(exc)) from exc

    async def decide(self, task_id: str, floor: FloorResult, verdict: Verdict, *, simulate: bool) -> GateDecision:
        """The gate's decision (``core.gate.decision``) with the levels in force now, recorded in the audit."""
        try:
            ledger = self.ledger
        except ConfigError as exc:
            raise GateUnavailable(str(exc)) from exc
        levels = plain_levels(await ledger.levels(floor.domains))
        decision = decide(floor, verdict, levels, simulate=simulate)
        await ledger.record_decision(task_id, decision, verdict)
        return decision
