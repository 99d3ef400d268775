"""The deployment files: no Docker engine runs here, so check what can be checked without one.

The Dockerfile is read for the essentials (slim base, non-root user, the piper extra and
no torch, PORT, a health check); its start and health-check commands are run for real
against a server; compose and Railway settings are checked against the app's settings.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.server import free_port, wait_until_up
from utter.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    steps = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, args = line.partition(" ")
            steps.append((instruction.upper(), args.strip()))
    return steps


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    last_from = max(i for i, (instruction, _) in enumerate(steps) if instruction == "FROM")
    return steps[last_from:]


def known_variables() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.update(alias.choices if alias is not None else [f"UTTER_{name.upper()}"])
    return names


def test_image_is_slim_non_root_and_has_no_torch():
    stages = [args for instruction, args in dockerfile() if instruction == "FROM"]
    assert all(args.startswith("python:3.11-slim") for args in stages), stages
    final = final_stage()
    users = [args for instruction, args in final if instruction == "USER"]
    assert users and users[-1] not in ("root", "0"), "the server must not run as root"
    user_index = max(i for i, (instruction, _) in enumerate(final) if instruction == "USER")
    assert not [args for instruction, args in final[user_index:] if instruction == "RUN" and "apt-get" in args]
    installs = " ".join(args for instruction, args in dockerfile() if instruction == "RUN" and "pip install" in args)
    assert '".[${EXTRAS}]"' in installs
    assert not re.search(r"torch|qwen", installs), installs
    assert set(image_extras()) == {"piper", "modal"}
    assert not (ROOT / "Dockerfile").read_text().count("nvidia"), "no CUDA in the web image"


def image_extras() -> list[str]:
    args = [args for instruction, args in dockerfile() if instruction == "ARG" and args.startswith("EXTRAS=")]
    return args[0].removeprefix("EXTRAS=").split(",")


def test_the_images_extras_pull_no_torch():
    """What the image installs: the core dependencies plus its extras, none of them torch or CUDA."""
    from importlib.metadata import requires

    extras = image_extras()
    wanted = [r for r in requires("utter") if "extra ==" not in r or any(f'extra == "{e}"' in r for e in extras)]
    assert wanted and not [r for r in wanted if re.match(r"(torch|qwen|transformers|nvidia)", r)]


def test_image_runs_the_server_on_port_with_a_health_check():
    final = dict(final_stage())
    cmd = json.loads(final["CMD"])
    assert cmd[:2] == ["sh", "-c"] and cmd[2].startswith("exec utter serve --host 0.0.0.0 --port ${PORT:-8000}")
    assert "/api/health" in final["HEALTHCHECK"]
    assert final["EXPOSE"] == "8000"
    env = final["ENV"]
    assert "UTTER_DATA_DIR=/data" in env
    # Railway rejects images declaring VOLUME; volumes are attached by the platform or compose.
    assert "VOLUME" not in final


def test_dockerignore_keeps_secrets_and_bulk_out():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignored = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert {".env", ".venv", ".git", "tests", "uploads", "*.db"} <= ignored
    for copied in re.findall(r"^COPY (?!--from)(.+) \S+$", (ROOT / "Dockerfile").read_text(), re.MULTILINE):
        for path in copied.split():
            assert path not in ignored, f"{path} is copied but ignored"


@pytest.mark.slow
def test_the_images_start_and_health_commands_work(tmp_path):
    """Run the CMD and HEALTHCHECK exactly as the image would, with PORT set as Railway sets it."""
    final = dict(final_stage())
    port = free_port()
    # A server on 0.0.0.0 needs an access key (or UTTER_OPEN_ACCESS): the operator gives one, as deploy.md says.
    env = {**os.environ, "PORT": str(port), "UTTER_DATA_DIR": str(tmp_path), "UTTER_ENGINE": "piper",
           "DATABASE_URL": "", "UTTER_API_KEY": "an-operator-key"}
    # The image's PATH has the venv's bin first; here the test venv's does.
    env["PATH"] = str(Path(os.sys.executable).parent) + os.pathsep + env["PATH"]
    server = subprocess.Popen(json.loads(final["CMD"]), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.STDOUT)
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process=server)
        check = final["HEALTHCHECK"].split(" CMD ", 1)[1]
        result = subprocess.run(["sh", "-c", check], env=env, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "utter.db").exists() and (tmp_path / "uploads").is_dir()
        # With the port wrong, the same check fails: it really probes the server.
        wrong = subprocess.run(["sh", "-c", check], env={**env, "PORT": str(free_port())}, capture_output=True,
                               timeout=30)
        assert wrong.returncode != 0
    finally:
        server.terminate()
        server.wait(30)


def test_compose_brings_up_postgres_15_and_the_app_wired_to_it():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["db"]["image"] == "postgres:15"
    db_env = services["db"]["environment"]
    app = services["app"]
    url = Settings(database_url=app["environment"]["DATABASE_URL"], _env_file=None).database_url
    assert url == f"postgresql+psycopg://postgres:{db_env['POSTGRES_PASSWORD']}@db:5432/{db_env['POSTGRES_DB']}"
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert "uploads:/data" in app["volumes"] and "uploads" in compose["volumes"]
    # Open without a key, so published on this machine's loopback only (the server refuses otherwise).
    assert app["ports"] == ["127.0.0.1:8000:8000"] and app["environment"]["UTTER_OPEN_ACCESS"].endswith("true}")
    for name in ("app", "worker"):
        unknown = set(services[name]["environment"]) - known_variables() - {"PORT"}
        assert not unknown, f"{name} sets variables Utter does not read: {unknown}"
    assert services["worker"]["command"][:2] == ["utter", "worker"]


def test_railway_starts_on_port_and_checks_health():
    config = json.loads((ROOT / "railway.json").read_text())
    assert config["build"]["builder"] == "DOCKERFILE"
    deploy = config["deploy"]
    # Railway runs a Dockerfile service's start command without a shell: $PORT needs one.
    start = shlex.split(deploy["startCommand"])
    assert start[:2] == ["/bin/sh", "-c"] and "--port $PORT" in start[2] and "--host 0.0.0.0" in start[2]
    assert deploy["healthcheckPath"] == "/api/health"
    assert deploy["restartPolicyType"] == "ON_FAILURE"


def test_procfile_has_web_and_worker():
    entries = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert entries["web"].startswith("utter serve --host 0.0.0.0 --port ${PORT")
    assert entries["worker"].startswith("utter worker")


def test_deploy_guide_explains_every_variable():
    guide = (ROOT / "docs" / "deploy.md").read_text()
    expected = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        # Seed variables by their plain name (ENV, DATABASE_URL, R2_*, MODAL_*); the rest as UTTER_<NAME>.
        expected.add(alias.choices[0] if alias is not None else f"UTTER_{name.upper()}")
    missing = sorted(name for name in expected if not re.search(rf"`{name}`", guide))
    assert not missing, f"docs/deploy.md does not explain {missing}"
