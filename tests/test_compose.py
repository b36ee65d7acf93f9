"""compose.yaml stays valid against the Compose Specification and matches the services we have."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from runner import compose
from runner.stack import ROOT, SECRET_NAMES

SCHEMA = ROOT.parent / "shared" / "compose-spec" / "compose-spec.json"
SECRETS = {name: "x" for name in SECRET_NAMES}


def document() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_file_matches_the_compose_specification() -> None:
    if not SCHEMA.exists():
        pytest.fail(f"{SCHEMA} is missing: the Compose Specification schema lives in ../shared")
    schema = json.loads(SCHEMA.read_text())
    assert "draft-07" in schema["$schema"]  # its $schema URL lacks the '#' jsonschema expects
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(document())


def test_the_schema_check_can_fail() -> None:
    schema = json.loads(SCHEMA.read_text())
    broken = document()
    broken["services"]["model"]["depends_on"] = {"rabbitmq": {"condition": "when_it_feels_like_it"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_every_python_service_command_names_a_module_we_have() -> None:
    services = compose.load(ROOT / "compose.yaml", SECRETS)
    python_services = [s for s in services.values() if s.command[:2] == ["python", "-m"]]
    assert {s.name for s in python_services} >= {"model", "gateway", "desktop"}
    for service in python_services:
        module = service.command[2]
        assert importlib.util.find_spec(module) is not None, f"{service.name}: no module {module}"
        assert (ROOT / Path(*module.split(".")) / "__main__.py").exists(), f"{module} cannot be run with -m"


def test_the_stack_has_what_the_issues_require() -> None:
    doc = document()
    services = doc["services"]
    assert {"rabbitmq", "model", "gateway", "proxy", "desktop"} <= set(services)
    assert services["model"]["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert "healthcheck" in services["rabbitmq"]
    gateway = services["gateway"]
    assert "ports" not in gateway and "container_name" not in gateway  # scalable: --scale gateway=3
    assert services["proxy"]["ports"] == ["${TRAITSWEB_PORT:-8000}:8000"]
    for name in ("rabbitmq", "proxy", "model", "desktop"):
        build = services[name].get("build") or {}
        assert "BASE_IMAGE" in build.get("args", {}), f"{name}: base image must be a build argument"
    for path in ("deploy/rabbitmq/definitions.sh", "deploy/rabbitmq/enabled_plugins", "deploy/nginx/traitsweb.conf.template"):
        assert (ROOT / path).exists(), path


def test_missing_secrets_fail_loudly() -> None:
    with pytest.raises(compose.ComposeError, match="TRAITSWEB_MODEL_PASSWORD"):
        compose.load(ROOT / "compose.yaml", {})


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("${A:-x}", {}, "x"),
        ("${A:-x}", {"A": ""}, "x"),
        ("${A-x}", {"A": ""}, ""),
        ("$${A}", {"A": "1"}, "${A}"),
    ],
)
def test_interpolation(text: str, env: dict, expected: str) -> None:
    assert compose.interpolate(text, env) == expected
