"""The web page as a platform plugin: registered like the chat platforms, on only while the API has a token,
refusing [web.access] (its people are the API's tokens), and honest about the chat-only parts of a spec: nothing
is ever posted to it, its probe has nothing to check, its button codec is the plain one."""

from __future__ import annotations

import pytest
from aiohttp import web

from bots.chat import registry
from bots.chat.platform import Button, CannotPost, Outgoing, Pressed
from bots.config import ServiceSettings
from bots.service import Service
from bots.web.adapter import WebPage
from bots.web.settings import WebSettings
from bots.web.spec import WEB
from core.errors import ConfigError
from core.store.conversations import Conversation
from tests.chat_service import service_settings

MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")  # the loop of the conftest's fixtures


def web_section(service: ServiceSettings) -> WebSettings:
    section = service.platform("web")
    assert isinstance(section, WebSettings)
    return section


def test_the_page_is_a_registered_platform_last_in_the_list() -> None:
    assert registry.spec("web") is WEB and registry.names()[-1] == "web"
    assert WEB.settings is WebSettings and WEB.token_variable is None


def test_the_page_is_on_only_while_the_api_has_a_token() -> None:
    assert "the API has no token" in (web_section(service_settings()).off_reason() or "")
    assert web_section(service_settings(api={"token": "okoi_x"})).off_reason() is None
    hashed = {"tokens": {"ci": {"hash": "sha256:" + "0" * 64, "scopes": ["tasks:read"]}}}
    assert web_section(service_settings(api=hashed)).off_reason() is None
    disabled = service_settings(api={"token": "okoi_x"}, web={"enabled": False})
    assert web_section(disabled).off_reason() == "[web] enabled = false"
    assert WebSettings().off_reason() is not None, "off until the whole configuration says the API is on"


def test_access_rules_are_refused_for_the_page() -> None:
    with pytest.raises((ConfigError, ValueError), match="who may see it and decide is each API token's scopes"):
        service_settings(web={"access": {"approvers": ["U1"]}})


def test_the_button_codec_round_trips_and_refuses_what_it_never_made() -> None:
    payload = WEB.buttons.encode(Button("Approve", "approve", "c0ffee"))
    assert WEB.buttons.decode(payload) == Pressed("approve", "c0ffee")
    assert WEB.buttons.decode("launch:c0ffee") is None and WEB.buttons.decode("approve") is None
    with pytest.raises(ValueError):
        WEB.buttons.encode(Button("Approve", "approve", "a:b"))


def test_the_probe_has_no_token_to_try() -> None:
    found = WEB.probe(WebSettings())
    assert found.accepted and "no token of its own" in found.what


@MODULE_LOOP
async def test_nothing_is_ever_posted_to_the_page() -> None:
    page = WebPage(WebSettings(), None, None)  # type: ignore[arg-type]  # it keeps neither
    conversation = Conversation(task_id="t", platform="web", channel_id="c", requester_id="u", requester_name="u")
    with pytest.raises(CannotPost):
        await page.open_thread(conversation, Outgoing("hi"))
    with pytest.raises(CannotPost):
        await page.post(conversation, Outgoing("hi"))
    with pytest.raises(CannotPost):
        await page.post_to_channel("c", Outgoing("digest"))
    refused = await page.check_channel("c")
    assert refused is not None and "web_channels" in refused.remedy
    page.add_routes(web.Application())  # no API on this application: nothing is mounted
    assert not page.connected


@MODULE_LOOP
async def test_start_up_warns_about_no_access_rules_of_the_page(page_service: Service) -> None:
    report = page_service.startup_report
    assert "  web: on" in report
    assert "[web.access]" not in report and "/think on web" not in report
    assert page_service.adapters["web"].connected
