"""How Telegram updates reach the handlers without being acknowledged before they are saved.

Telegram forgets an update once it is acknowledged: a webhook call answered 2xx, or a ``getUpdates``
whose ``offset`` is past it. PTB's Updater advances the offset as soon as updates are fetched, and a
webhook that only queues the update answers before anything is stored; a crash then loses commands
that were acknowledged. Here every update is dispatched with a ``Receipt`` that its handler settles
once what it must keep is in SQLite (or when it finishes, for updates that keep nothing):

- the webhook answers 200 only after the receipt settles, 503 when the update could not be saved
  (Telegram delivers it again);
- ``Poller`` moves the offset only past updates whose receipts settled, in order; an unsaved update
  is fetched again after a pause (those after it too, and recognised as redeliveries by update_id).

An update of a shape the handlers cannot read (``bots.telegram.shape``) is ignored with one log line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from telegram import Update
from telegram.error import InvalidToken, TelegramError, TimedOut

from bots.chat.intake import NotAccepted
from bots.telegram.shape import unexpected

log = logging.getLogger(__name__)

POLL_TIMEOUT_SECONDS = 10  # long poll: Telegram holds getUpdates open this long when there is nothing
RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)  # pauses after consecutive failures
SETTLE_SECONDS = 5.0  # at stop, how long updates in flight may take to settle


class Receipts:
    """Dispatches updates to the application and tracks, per update, whether it is saved yet."""

    def __init__(self, application: Any) -> None:
        self.application = application
        # By object identity: a redelivery in flight at the same time is a different object.
        self._open: dict[int, asyncio.Future[None]] = {}
        self._processing: set[asyncio.Task[None]] = set()

    def dispatch(self, update: Update) -> asyncio.Future[None]:
        """Process ``update`` in the background; the returned receipt settles when it is saved
        (raises ``NotAccepted`` if it could not be) or, at the latest, when processing ends."""
        receipt: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._open[id(update)] = receipt
        task = asyncio.create_task(self._process(update, receipt), name=f"telegram-update-{update.update_id}")
        self._processing.add(task)
        task.add_done_callback(self._processing.discard)
        return receipt

    def saved(self, update: Update) -> None:
        """Called by a handler once the update's command, claim or decision is in the database."""
        receipt = self._open.pop(id(update), None)
        if receipt is not None and not receipt.done():
            receipt.set_result(None)

    def not_saved(self, update: Update, error: NotAccepted) -> None:
        """Called by a handler when the update could not be saved: it must be delivered again."""
        receipt = self._open.pop(id(update), None)
        if receipt is not None and not receipt.done():
            receipt.set_exception(error)

    async def _process(self, update: Update, receipt: asyncio.Future[None]) -> None:
        try:
            # A shape our handlers cannot read is Telegram's (or a forger's) oddity, not our failure: one line,
            # no traceback, and acknowledged like an update that keeps nothing (it would only come back).
            odd = unexpected(update)
            if odd is not None:
                log.warning("telegram: ignored update %s of an unexpected shape (%s)", update.update_id, odd)
                return
            await self.application.process_update(update)
        finally:
            self._open.pop(id(update), None)
            if not receipt.done():  # a handler that keeps nothing (or failed: PTB logged it)
                receipt.set_result(None)

    async def idle(self) -> None:
        """Return once no update is being processed (every handler, and its answer, is done)."""
        while self._processing:
            await asyncio.wait(set(self._processing))

    async def settle(self, within: float = SETTLE_SECONDS) -> None:
        """Give updates in flight up to ``within`` seconds to finish (used at stop)."""
        if self._processing:
            await asyncio.wait(set(self._processing), timeout=within)


class Poller:
    """Long polling that confirms an update to Telegram only once it is saved."""

    def __init__(self, bot: Any, receipts: Receipts, allowed_updates: Sequence[str]) -> None:
        self.bot = bot
        self.receipts = receipts
        self.allowed_updates = list(allowed_updates)
        self.offset: int | None = None  # the next getUpdates confirms every update below it

    async def run(self) -> None:
        """Poll until cancelled (or the token is refused, which ends polling with an error log)."""
        failures = 0
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=self.offset, timeout=POLL_TIMEOUT_SECONDS, allowed_updates=self.allowed_updates
                )
            except TimedOut:
                continue  # a long poll outlived the HTTP timeout: nothing was fetched
            except InvalidToken:
                log.error("telegram: the bot token was refused; polling stopped")
                raise
            except TelegramError as exc:
                wait = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("telegram: getUpdates failed (%s); trying again in %.0fs", exc, wait)
                await asyncio.sleep(wait)
                continue
            failures = 0
            if updates and not await self._take(updates):
                await asyncio.sleep(RETRY_SECONDS[0])

    async def _take(self, updates: Sequence[Update]) -> bool:
        """Dispatch a batch and move the offset past the updates saved, in order; False if one was not."""
        receipts = [self.receipts.dispatch(update) for update in updates]
        settled = await asyncio.gather(*receipts, return_exceptions=True)
        for update, result in zip(updates, settled, strict=True):
            if isinstance(result, BaseException):
                log.warning(
                    "telegram: update %s was not saved (%s); it will be fetched again", update.update_id, result
                )
                return False
            self.offset = update.update_id + 1
        return True

    async def confirm(self) -> None:
        """Tell Telegram which updates are saved (at stop): a getUpdates with the current offset that
        waits for nothing. Whatever it returns is newer, unconfirmed, and will be delivered again."""
        if self.offset is None:
            return
        try:
            await self.bot.get_updates(offset=self.offset, timeout=0, limit=1, allowed_updates=self.allowed_updates)
        except TelegramError as exc:
            log.info("telegram: could not confirm saved updates at stop (%s); they will be recognised", exc)
