"""The invite link ``openkoi doctor`` prints for Discord: the application id read from the bot token, openkoi's
scopes, and the permissions integer from Discord's documented bits."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from bots.discord.invite import PERMISSIONS, application_id, invite_url, setup_hints
from bots.discord.settings import DiscordSettings

APP_ID = "1301590567989547028"
# The shape of a real bot token: base64(user id) . base64(timestamp) . HMAC (made up here).
TOKEN = base64.b64encode(APP_ID.encode()).decode().rstrip("=") + ".G5Nast.not-a-real-signature_0123456789abcdef"


def test_the_permissions_are_send_messages_create_public_threads_and_send_messages_in_threads() -> None:
    # 0x800 + 0x800000000 + 0x4000000000, Discord's values for the three permissions the README lists.
    assert PERMISSIONS == 2048 + 34359738368 + 274877906944 == 309237647360


def test_the_application_id_is_the_token_s_first_segment_decoded() -> None:
    assert TOKEN.startswith("MTMwMTU5MDU2Nzk4OTU0NzAyOA.")
    assert application_id(TOKEN) == APP_ID
    # A first segment whose base64 needs padding back (an 18-digit id encodes to 24 characters, a 19-digit to 26).
    assert application_id("MjQ1NTU5MDg3NTI0MjE2ODMy.DulyxA.brcD2xRAqjACTuMcGPwy4TWVQdg") == "245559087524216832"


@pytest.mark.parametrize("token", ["", "discord-good", "bm90IGFuIGlk.x.y", "!!!.x.y", "LTE.x.y", ".abc.def"])
def test_a_token_that_is_not_a_bot_token_gives_no_id(token: str) -> None:
    assert application_id(token) is None


def test_the_invite_url_names_the_application_the_scopes_and_the_permissions() -> None:
    url = invite_url(APP_ID)
    assert url == (
        "https://discord.com/oauth2/authorize?client_id=1301590567989547028"
        "&scope=bot%20applications.commands&permissions=309237647360"
    )
    parts = urlsplit(url)
    assert parse_qs(parts.query) == {
        "client_id": [APP_ID],
        "scope": ["bot applications.commands"],
        "permissions": ["309237647360"],
    }


def test_the_hint_is_the_invite_link_and_never_the_token() -> None:
    [hint] = setup_hints(DiscordSettings(bot_token=SecretStr(TOKEN)))
    assert not hint.warn
    assert hint.what == f"discord: invite the bot with {invite_url(APP_ID)}"
    [doubt] = setup_hints(DiscordSettings(bot_token=SecretStr("discord-good-but-not-shaped")))
    assert doubt.warn and "no invite link" in doubt.what
    assert "discord-good" not in doubt.what + doubt.todo
