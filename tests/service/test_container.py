"""The Dockerfile, compose.yaml and .dockerignore agree with the code: the command exists, the port is
``[serve] port``'s default, the user is not root, the volume is where ``OPENKOI_HOME`` keeps the data, the config
is where ``OPENKOI_CONFIG`` points, and the healthcheck asks a route the service really serves. Where Docker works,
``docker compose config`` must accept compose.yaml too (it is skipped, saying why, where it does not)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml

from bots.config import ServeSettings
from bots.metrics import MetricsAccess
from bots.terminal.cli import cli
from core.config import Settings, resolve_paths
from tests.chat_service import running_service, service_settings

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Dockerfile:
    """The instructions of a Dockerfile, continuation lines joined, comments dropped: (instruction, arguments)."""

    instructions: list[tuple[str, str]]

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        joined = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
        found = []
        for line in joined.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                word, _, rest = line.partition(" ")
                found.append((word.upper(), rest.strip()))
        return cls(found)

    def all(self, instruction: str) -> list[str]:
        return [rest for word, rest in self.instructions if word == instruction]

    def one(self, instruction: str) -> str:
        (found,) = self.all(instruction)
        return found

    def env(self) -> dict[str, str]:
        return dict(item.split("=", 1) for rest in self.all("ENV") for item in shlex.split(rest))

    def exec_form(self, instruction: str) -> list[str]:
        value = json.loads(self.one(instruction))
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"{instruction} in exec form"
        return value


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return Dockerfile.read(ROOT / "Dockerfile")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    service = data["services"]["openkoi"]
    assert isinstance(service, dict)
    return data


def service_of(compose: dict[str, Any]) -> dict[str, Any]:
    found = compose["services"]["openkoi"]
    assert isinstance(found, dict)
    return found


def project() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def healthcheck_url(dockerfile: Dockerfile) -> str:
    line = dockerfile.one("HEALTHCHECK")
    found = re.search(r"https?://[^'\"\s]+", line)
    assert found is not None, line
    return found.group()


def test_the_image_runs_openkoi_serve_from_the_console_script(dockerfile: Dockerfile) -> None:
    command = dockerfile.exec_form("ENTRYPOINT") + dockerfile.exec_form("CMD")
    assert command == ["openkoi", "serve"]
    assert project()["project"]["scripts"]["openkoi"] == "bots.terminal.cli:main"
    assert "serve" in cli.commands, "the console script has a serve command"


def test_the_base_is_a_slim_python_the_project_accepts(dockerfile: Dockerfile) -> None:
    found = re.fullmatch(r"python:(\d+)\.(\d+)-slim(-\w+)?", dockerfile.one("FROM"))
    assert found is not None, dockerfile.one("FROM")
    lowest = re.search(r">=\s*(\d+)\.(\d+)", project()["project"]["requires-python"])
    assert lowest is not None
    assert (int(found[1]), int(found[2])) >= (int(lowest[1]), int(lowest[2]))


def test_the_port_is_the_default_serve_port_everywhere(dockerfile: Dockerfile, compose: dict[str, Any]) -> None:
    port = ServeSettings().port
    assert dockerfile.one("EXPOSE") == str(port)
    assert urlsplit(healthcheck_url(dockerfile)).port == port
    published = [str(p).rsplit(":", 1)[-1] for p in service_of(compose)["ports"]]
    assert published == [str(port)], "the container side of the published port"


def test_it_runs_as_a_user_of_its_own_never_root(dockerfile: Dockerfile) -> None:
    user = dockerfile.one("USER").split(":")[0]
    assert user not in ("root", "0") and user
    created = " ".join(dockerfile.all("RUN"))
    uid = re.search(rf"useradd\b[^&]*--uid (\d+)[^&]*\b{user}\b", created)
    assert uid is not None and int(uid[1]) != 0, "the user is created with a non-zero uid"
    assert dockerfile.instructions.index(("USER", dockerfile.one("USER"))) > max(
        i for i, (word, _) in enumerate(dockerfile.instructions) if word == "RUN"
    ), "nothing runs as root after USER"


def test_the_volume_is_where_openkoi_home_keeps_the_data(dockerfile: Dockerfile, compose: dict[str, Any]) -> None:
    env = dockerfile.env()
    home = env["OPENKOI_HOME"]
    assert json.loads(dockerfile.one("VOLUME")) == [home]
    config, data = resolve_paths({"OPENKOI_HOME": home, "OPENKOI_CONFIG": env["OPENKOI_CONFIG"]})
    assert PurePosixPath(home) in PurePosixPath(data).parents, "the database lives in the volume"
    assert str(config) == env["OPENKOI_CONFIG"]
    service = service_of(compose)
    assert service["environment"]["OPENKOI_HOME"] == home
    assert service["environment"]["OPENKOI_CONFIG"] == env["OPENKOI_CONFIG"]
    mounts = {target: source for source, target, *_ in (v.split(":") for v in service["volumes"])}
    assert mounts[home] in compose["volumes"], "the data is a named volume"
    config_mount = [v for v in service["volumes"] if v.split(":")[1] == str(PurePosixPath(config).parent)]
    assert len(config_mount) == 1 and config_mount[0].endswith(":ro"), "config.toml's directory, read-only"


def test_bound_to_every_address_metrics_wait_for_a_token(dockerfile: Dockerfile, compose: dict[str, Any]) -> None:
    host = dockerfile.env()["OPENKOI_SERVE__HOST"]
    assert service_of(compose)["environment"]["OPENKOI_SERVE__HOST"] == host
    assert MetricsAccess.of(ServeSettings(host=host)).mode == "off"
    assert MetricsAccess.of(ServeSettings(host=host, metrics_token="a-scrape-token")).mode == "token"


def test_the_image_gets_every_package_and_the_build_context_keeps_them(dockerfile: Dockerfile) -> None:
    packages = project()["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copied = {source for rest in dockerfile.all("COPY") for source in shlex.split(rest)[:-1]}
    assert set(packages) | {"pyproject.toml", "README.md"} <= copied
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert not ignored & copied, "the build context must keep what the Dockerfile copies"
    assert {".git", ".venv", "tests", ".env"} <= ignored, "no history, virtualenv, tests or secrets in the image"


async def test_the_healthcheck_asks_a_route_the_service_serves(settings: Settings, dockerfile: Dockerfile) -> None:
    path = urlsplit(healthcheck_url(dockerfile)).path
    assert path == "/readyz"
    async with (
        running_service(settings, service_settings()) as svc,
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{svc.port}{path}") as response,
    ):
        assert response.status == 200, "ready: the database answers and a model is configured"
        assert (await response.json())["ready"] is True


def docker_compose_works() -> str | None:
    """None when ``docker compose`` can run here; else why it cannot."""
    if shutil.which("docker") is None:
        return "docker is not installed on this machine"
    try:
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker compose did not run: {exc}"
    if probe.returncode != 0:
        return f"docker compose is not available: {(probe.stderr or probe.stdout).strip().splitlines()[0]}"
    return None


def test_docker_compose_accepts_the_file() -> None:
    why = docker_compose_works()
    if why is not None:
        pytest.skip(why)
    checked = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert checked.returncode == 0, checked.stderr
