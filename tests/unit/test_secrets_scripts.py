"""compose's secrets path without containers: deploy/secrets/generate.py (the one-shot `secrets` service) and
deploy/secrets/env.sh (the images' entrypoint), run as the images run them."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from runner.stack import ROOT, SECRET_NAMES

GENERATE = ROOT / "deploy/secrets/generate.py"
ENTRYPOINT = ROOT / "deploy/secrets/env.sh"
CLEAN = {"PATH": os.environ["PATH"]}


def generate(directory: Path, **env: str) -> str:
    done = subprocess.run([sys.executable, str(GENERATE), str(directory)], env={**CLEAN, **env},
                          capture_output=True, text=True, check=True)
    return done.stdout


def values(directory: Path) -> dict[str, str]:
    return {name: (directory / name).read_text() for name in SECRET_NAMES}


def test_generated_once_then_kept_and_an_exported_value_wins(tmp_path: Path) -> None:
    out = generate(tmp_path / "s")
    first = values(tmp_path / "s")
    assert len(set(first.values())) == len(SECRET_NAMES) and all(len(v) >= 32 for v in first.values())
    for value in first.values():
        assert value not in out  # names and what was done, never a value
    for name in SECRET_NAMES:
        assert stat.S_IMODE((tmp_path / "s" / name).stat().st_mode) == 0o444
    generate(tmp_path / "s")
    assert values(tmp_path / "s") == first
    generate(tmp_path / "s", TRAITSWEB_GATEWAY_PASSWORD="exported-1")
    after = values(tmp_path / "s")
    assert after["TRAITSWEB_GATEWAY_PASSWORD"] == "exported-1"
    assert {k: v for k, v in after.items() if k != "TRAITSWEB_GATEWAY_PASSWORD"} == \
        {k: v for k, v in first.items() if k != "TRAITSWEB_GATEWAY_PASSWORD"}


def test_an_exported_value_that_breaks_a_url_is_refused(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(GENERATE), str(tmp_path)], capture_output=True, text=True,
                          env={**CLEAN, "TRAITSWEB_MODEL_PASSWORD": "a@b"})
    assert done.returncode != 0 and "TRAITSWEB_MODEL_PASSWORD" in done.stderr


def entrypoint_env(**env: str) -> dict[str, str]:
    done = subprocess.run(["sh", str(ENTRYPOINT), "env"], env={**CLEAN, **env}, capture_output=True, text=True,
                          check=True)
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if line.startswith("TRAITSWEB_"))


def test_the_entrypoint_reads_file_variables_and_fills_the_broker_url(tmp_path: Path) -> None:
    generate(tmp_path)
    secret = values(tmp_path)
    env = entrypoint_env(TRAITSWEB_BROKER_URL="stomp://gateway@rabbitmq:61613",
                         TRAITSWEB_BROKER_PASSWORD_FILE=str(tmp_path / "TRAITSWEB_GATEWAY_PASSWORD"),
                         TRAITSWEB_SESSION_SECRET_FILE=str(tmp_path / "TRAITSWEB_SESSION_SECRET"))
    assert env == {
        "TRAITSWEB_BROKER_URL": f"stomp://gateway:{secret['TRAITSWEB_GATEWAY_PASSWORD']}@rabbitmq:61613",
        "TRAITSWEB_SESSION_SECRET": secret["TRAITSWEB_SESSION_SECRET"],
    }
    # set in the environment: wins over its file; a URL with a password is left alone
    env = entrypoint_env(TRAITSWEB_BROKER_URL="stomp://gateway:mine@rabbitmq:61613",
                         TRAITSWEB_SESSION_SECRET="mine",
                         TRAITSWEB_SESSION_SECRET_FILE=str(tmp_path / "TRAITSWEB_SESSION_SECRET"))
    assert env == {"TRAITSWEB_BROKER_URL": "stomp://gateway:mine@rabbitmq:61613", "TRAITSWEB_SESSION_SECRET": "mine"}


def test_the_entrypoint_fails_loudly_without_its_secret(tmp_path: Path) -> None:
    done = subprocess.run(["sh", str(ENTRYPOINT), "true"], capture_output=True, text=True,
                          env={**CLEAN, "TRAITSWEB_SESSION_SECRET_FILE": str(tmp_path / "missing")})
    assert done.returncode != 0 and "TRAITSWEB_SESSION_SECRET_FILE" in done.stderr
