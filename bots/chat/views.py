"""`/think soul` and `/think mind [agencies|dissent|calibrate]`: read-only views posted in the channel where
they were asked, in the platform's markup and within its limit, in the background (the command itself is
answered at once, as `/think digest` is). The words are ``bots.views``'s, the same as the terminal's.

Like the digest, the mind's record is the team's: it names tasks from every channel, so anyone who may
/think in a channel may ask for it there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bots import views as words
from bots.chat.asked import Running, post_as_asked
from bots.chat.commands import ShowMind, ShowSoul, View
from bots.chat.markup import Markup
from bots.chat.pacing import Pacer
from bots.chat.platform import ChatPlatform, Outgoing
from bots.chat.split import split_message
from core.deliberation.soul import SoulReading
from core.reflection.mind import mind_agencies, mind_calibration, mind_dissent
from core.store import Store
from core.text import clip

MAX_LINE = 500  # a line is a sentence or a figure; clipping keeps every cut on a line boundary
LISTED = 5  # tasks listed per section in chat (the terminal's -n shows more)


def view_messages(m: Markup, view: words.View) -> list[str]:
    """A view in ``m``'s markup, split within ``m.limit``: its title in bold first, then each section's
    title in bold and its lines as bullets (a "↳" line belongs to the bullet above it)."""
    lines = [f"🧠 {m.bold(clip(view.title, MAX_LINE))}"]
    for section in view.sections:
        lines += ["", m.bold(clip(section.title, 200))]
        for line in section.lines:
            text = m.escape(clip(line, MAX_LINE))
            lines.append(f"    {text}" if line.startswith("↳") else f"• {text}")
    return split_message("\n".join(lines), m.limit, m.measure)


@dataclass
class ViewPoster:
    store: Store
    # The adapters by name (the service's live dict: a platform that starts late is found there).
    platforms: Mapping[str, ChatPlatform]
    # The SOUL.md in force for the service's tasks (its workspace, config directory, else the bundled one).
    soul: Callable[[], SoulReading]
    pacer: Pacer = field(default_factory=Pacer)
    _asked: Running = field(default_factory=Running)

    def request(self, view: View, platform: str, channel: str) -> None:
        """Post ``view`` in ``channel`` in the background; failures are logged."""
        self._asked.start(self.post(view, platform, channel))

    async def post(self, view: View, platform_name: str, channel: str) -> bool:
        """Compute and post one view; True when it was posted."""
        platform = self.platforms.get(platform_name)
        if platform is None:
            return False

        async def post() -> None:
            shown = await self.compose(view)
            for text in view_messages(platform.markup, shown):
                await self.pacer.turn(platform.name, channel, platform.pace(channel))
                await platform.post_to_channel(channel, Outgoing(text))

        return await post_as_asked("a view", platform_name, channel, post())

    async def compose(self, view: View) -> words.View:
        db = self.store.db
        match view:
            case ShowSoul():
                return words.soul_view(await asyncio.to_thread(self.soul))  # reads files: off the loop
            case ShowMind(view="dissent"):
                return words.dissent_view(await mind_dissent(db), LISTED)
            case ShowMind(view="calibrate"):
                return words.calibration_view(await mind_calibration(db), LISTED)
        return words.agencies_view(await mind_agencies(db))

    async def close(self) -> None:
        await self._asked.close()
