"""load_settings: reference defaults, layering, path resolution and error messages that help."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.config import CustomProvider, load_settings, resolve_paths
from core.errors import ConfigError


@pytest.fixture
def koi_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in [k for k in os.environ if k.startswith("OPENKOI_")]:
        monkeypatch.delenv(key)
    home = tmp_path / "koi"
    monkeypatch.setenv("OPENKOI_HOME", str(home))
    return home


def write_config(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- defaults -------------------------------------------------------------------------------------


def test_defaults_match_the_reference(koi_home: Path) -> None:
    s = load_settings()
    it = s.iteration
    assert it.max_iterations == 3
    assert it.quality_threshold == 0.8
    assert it.improvement_threshold == 0.05
    assert it.timeout_seconds == 300
    assert it.token_budget == 200_000
    assert it.max_cost_usd == 2.0
    assert it.skip_eval_confidence == 0.95
    assert it.abort_on_regression is True
    assert it.regression_threshold == 0.2
    assert (s.tools.loop_warning, s.tools.loop_escalate, s.tools.loop_abort) == (10, 20, 30)
    assert s.model is None
    assert s.providers == {}


# --- layering -------------------------------------------------------------------------------------


def test_config_file_overrides_defaults(koi_home: Path) -> None:
    write_config(
        koi_home,
        'model = "openai/gpt-4.1"\n[iteration]\nmax_iterations = 5\nquality_threshold = 0.9\n',
    )
    s = load_settings()
    assert s.model == "openai/gpt-4.1"
    assert s.iteration.max_iterations == 5
    assert s.iteration.quality_threshold == 0.9
    assert s.iteration.token_budget == 200_000  # untouched keys keep their defaults


def test_environment_overrides_config_file(koi_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(
        koi_home,
        'model = "openai/gpt-4.1"\n[iteration]\nmax_iterations = 5\nquality_threshold = 0.9\n',
    )
    monkeypatch.setenv("OPENKOI_ITERATION__MAX_ITERATIONS", "7")
    monkeypatch.setenv("OPENKOI_MODEL", "anthropic/claude-sonnet-4-5")
    s = load_settings()
    assert s.iteration.max_iterations == 7
    assert s.model == "anthropic/claude-sonnet-4-5"
    assert s.iteration.quality_threshold == 0.9  # the file still supplies what the environment does not


def test_explicit_overrides_beat_everything(koi_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(koi_home, 'model = "openai/gpt-4.1"\n[iteration]\nmax_iterations = 5\nquality_threshold = 0.9\n')
    monkeypatch.setenv("OPENKOI_ITERATION__MAX_ITERATIONS", "7")
    monkeypatch.setenv("OPENKOI_MODEL", "anthropic/claude-sonnet-4-5")
    s = load_settings(model="gemini/gemini-2.5-pro", iteration={"max_iterations": 9})
    assert s.model == "gemini/gemini-2.5-pro"
    assert s.iteration.max_iterations == 9
    assert s.iteration.quality_threshold == 0.9


def test_none_overrides_are_ignored(koi_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENKOI_MODEL", "anthropic/claude-sonnet-4-5")
    assert load_settings(model=None).model == "anthropic/claude-sonnet-4-5"


def test_custom_providers_from_the_file(koi_home: Path) -> None:
    write_config(
        koi_home,
        '[providers.mylab]\nbase_url = "http://127.0.0.1:8000/v1"\nmodels = ["qwen3"]\n',
    )
    s = load_settings()
    assert s.providers == {"mylab": CustomProvider(base_url="http://127.0.0.1:8000/v1", models=["qwen3"])}


# --- paths ----------------------------------------------------------------------------------------


def test_openkoi_home_locates_config_and_data(koi_home: Path) -> None:
    s = load_settings()
    assert s.config_path == koi_home / "config.toml"
    assert s.data_dir == koi_home / "data"
    assert s.db_path == koi_home / "data" / "openkoi.db"
    assert s.config_dir == koi_home


def test_openkoi_config_overrides_only_the_config_path(
    koi_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere" / "koi.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text("[iteration]\nmax_iterations = 4\n", encoding="utf-8")
    write_config(koi_home, "[iteration]\nmax_iterations = 8\n")  # ignored: OPENKOI_CONFIG wins
    monkeypatch.setenv("OPENKOI_CONFIG", str(elsewhere))
    s = load_settings()
    assert s.config_path == elsewhere
    assert s.iteration.max_iterations == 4
    assert s.data_dir == koi_home / "data"


def test_openkoi_data_overrides_only_the_data_dir(
    koi_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENKOI_DATA", str(tmp_path / "d"))
    s = load_settings()
    assert s.data_dir == tmp_path / "d"
    assert s.config_path == koi_home / "config.toml"


def test_paths_in_the_config_file_are_ignored(koi_home: Path, tmp_path: Path) -> None:
    write_config(koi_home, f'data = "{tmp_path / "other"}"\nhome = "/nowhere"\n')
    s = load_settings()
    assert s.data_dir == koi_home / "data"


def test_resolve_paths_without_openkoi_home(tmp_path: Path) -> None:
    config, data = resolve_paths({"XDG_DATA_HOME": str(tmp_path / "xdg")})
    assert config == Path.home() / ".openkoi" / "config.toml"
    assert data == tmp_path / "xdg" / "openkoi"


def test_missing_config_file_is_fine(koi_home: Path) -> None:
    assert not (koi_home / "config.toml").exists()
    assert load_settings().iteration.max_iterations == 3


# --- errors ---------------------------------------------------------------------------------------


def refused(koi_home: Path, toml: str) -> tuple[str, str]:
    """The config file written with ``toml``, and the message of the ConfigError loading it raises."""
    path = write_config(koi_home, toml)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    return str(path), str(caught.value)


def test_bad_value_names_file_key_and_expectation(koi_home: Path) -> None:
    path, message = refused(koi_home, '[iteration]\nmax_iterations = "lots"\n')
    assert path in message
    assert "iteration.max_iterations" in message
    assert "integer" in message
    assert "'lots'" in message


def test_out_of_range_value_says_what_was_expected(koi_home: Path) -> None:
    path, message = refused(koi_home, "[iteration]\nquality_threshold = 1.5\n")
    assert path in message
    assert "iteration.quality_threshold" in message
    assert "less than or equal to 1" in message


def test_misspelt_key_is_an_error_naming_it(koi_home: Path) -> None:
    path, message = refused(koi_home, "[iteration]\nmax_iteratons = 4\n")
    assert path in message
    assert "iteration.max_iteratons" in message
    assert "Extra inputs are not permitted" in message


def test_misspelt_top_level_key_is_an_error(koi_home: Path) -> None:
    path = write_config(koi_home, 'modle = "openai/gpt-4.1"\n')
    with pytest.raises(ConfigError, match="modle") as caught:
        load_settings()
    assert str(path) in str(caught.value)


def test_every_problem_is_reported(koi_home: Path) -> None:
    write_config(koi_home, '[iteration]\nmax_iterations = "lots"\nmax_iteratons = 4\n[tools]\nloop_abort = 0\n')
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    for key in ("iteration.max_iterations", "iteration.max_iteratons", "tools.loop_abort"):
        assert key in message


def test_invalid_toml_names_the_file(koi_home: Path) -> None:
    path, message = refused(koi_home, "[iteration\nmax_iterations = 4\n")
    assert path in message
    assert "not valid TOML" in message


def test_bad_environment_value_is_blamed_on_the_environment(koi_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENKOI_ITERATION__MAX_ITERATIONS", "many")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "environment (OPENKOI_*)" in message
    assert "iteration.max_iterations" in message
    assert str(koi_home / "config.toml") not in message


def test_settings_file_source_does_not_leak_between_loads(koi_home: Path) -> None:
    write_config(koi_home, "[iteration]\nmax_iterations = 6\n")
    assert load_settings().iteration.max_iterations == 6
    (koi_home / "config.toml").unlink()
    assert load_settings().iteration.max_iterations == 3


@pytest.mark.parametrize(
    "file_text",
    ["[iteration]\nquality_threshold = 0.9\n", "[iteration]\nmax_iterations = 5\n"],
    ids=["same-section", "same-key"],
)
def test_bad_environment_value_is_not_blamed_on_a_file_with_the_same_section(
    koi_home: Path, monkeypatch: pytest.MonkeyPatch, file_text: str
) -> None:
    path = write_config(koi_home, file_text)
    monkeypatch.setenv("OPENKOI_ITERATION__MAX_ITERATIONS", "many")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "environment (OPENKOI_*): key 'iteration.max_iterations'" in message
    assert str(path) not in message


def test_file_and_environment_problems_are_each_blamed_on_their_source(
    koi_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(koi_home, '[iteration]\nquality_threshold = 1.5\n[providers.lab]\nmodels = ["a"]\n')
    monkeypatch.setenv("OPENKOI_ITERATION__MAX_ITERATIONS", "many")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    lines = str(caught.value).splitlines()
    assert f"  {path}: key 'iteration.quality_threshold': Input should be less than or equal to 1 (got 1.5)" in lines
    assert any(line.startswith(f"  {path}: key 'providers.lab.base_url'") for line in lines)
    assert any(line.startswith("  environment (OPENKOI_*): key 'iteration.max_iterations'") for line in lines)


def test_errors_never_repeat_a_credential(koi_home: Path) -> None:
    write_config(
        koi_home,
        '[providers.lab]\nbase_url = "http://lab"\napi_key = 31415926\n[iteration]\ntoken_budgte = "sk-typed-here"\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "key 'providers.lab.api_key': Input should be a valid string" in message
    assert "key 'iteration.token_budgte': Extra inputs are not permitted" in message
    assert "31415926" not in message and "sk-typed-here" not in message


def test_think_workspace_is_the_flag_then_the_config_then_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bots.terminal.run import think_workspace

    flag, configured = tmp_path / "flag", tmp_path / "configured"
    flag.mkdir()
    configured.mkdir()
    monkeypatch.chdir(tmp_path)
    assert think_workspace(flag, configured) == flag.resolve()
    assert think_workspace(None, configured) == configured.resolve()
    assert think_workspace(None, None) == tmp_path.resolve()
    with pytest.raises(ConfigError, match=r"\[tools\] workspace: .* is not a directory"):
        think_workspace(None, tmp_path / "missing")
