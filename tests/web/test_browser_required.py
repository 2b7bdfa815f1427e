"""Without Chromium the browser tests skip and say why, unless OPENKOI_REQUIRE_BROWSER=1 (CI): then they fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.conftest import chromium_path, no_browser


def test_a_missing_browser_skips_with_its_reason_or_fails_when_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENKOI_CHROMIUM", str(tmp_path / "no-chromium-here"))
    assert chromium_path() is None
    monkeypatch.delenv("OPENKOI_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="need Chromium"):
        no_browser("Chromium is not installed")
    monkeypatch.setenv("OPENKOI_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="OPENKOI_REQUIRE_BROWSER=1 requires"):
        no_browser("Chromium is not installed")


def test_the_configured_chromium_is_used_when_it_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "chromium"
    binary.write_text("")
    monkeypatch.setenv("OPENKOI_CHROMIUM", str(binary))
    assert chromium_path() == str(binary)
