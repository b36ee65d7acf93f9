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

# ../shared beside the clone (or beside the folder of git worktrees)
SCHEMA = next((p / "shared/compose-spec/compose-spec.json" for p in (ROOT.parent, ROOT.parent.parent)
               if (p / "shared/compose-spec/compose-spec.json").exists()),
              ROOT.parent / "shared/compose-spec/compose-spec.json")
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
    for path in ("deploy/rabbitmq/definitions.sh", "deploy/rabbitmq/ready.sh", "deploy/rabbitmq/enabled_plugins",
                 "deploy/nginx/traitsweb.conf.template"):
        assert (ROOT / path).exists(), path


def test_no_exported_secrets_needed_and_no_default_passwords() -> None:
    """compose.yaml loads with an empty environment, and no secret has a value of its own in it."""
    services = compose.load(ROOT / "compose.yaml", {})
    assert {services["secrets"].environment[name] for name in SECRET_NAMES} == {""}
    exported = compose.load(ROOT / "compose.yaml", {name: f"mine-{name}" for name in SECRET_NAMES})
    assert all(exported["secrets"].environment[name] == f"mine-{name}" for name in SECRET_NAMES)
    for service in services.values():
        for key, value in service.environment.items():
            assert not any(word in key for word in ("PASSWORD", "SECRET")) or key.endswith("_FILE") \
                or service.name == "secrets", f"{service.name}: {key} set in compose.yaml"
            assert "://" not in value or "@" not in value or ":" not in value.split("://")[1].split("@")[0], \
                f"{service.name}: {key} has a password in its URL"


def test_every_service_with_secrets_reads_them_from_the_secrets_volume_after_it_ran() -> None:
    doc = document()
    services = doc["services"]
    assert "secrets" in doc["volumes"]
    generated = set(services["secrets"]["environment"])
    for name, spec in services.items():
        files = {k: v for k, v in (spec.get("environment") or {}).items() if k.endswith("_FILE")}
        if name == "secrets" or not files:
            continue
        mounts = [v for v in spec["volumes"] if isinstance(v, str) and v.startswith("secrets:")]
        assert mounts and mounts[0].endswith(":ro"), f"{name}: secrets volume not mounted read-only"
        target = mounts[0].split(":")[1]
        for key, path in files.items():
            assert path.startswith(target + "/") and path.rsplit("/", 1)[1] in generated, f"{name}: {key}"
        assert spec["depends_on"]["secrets"]["condition"] == "service_completed_successfully", name
    for name in ("rabbitmq", "model", "gateway", "desktop", "desktop-gui"):
        assert "secrets" in services[name]["depends_on"], name


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


def cluster_document() -> dict:
    return yaml.safe_load((ROOT / "compose.cluster.yaml").read_text())


def test_the_cluster_override_matches_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator(schema).validate(cluster_document())
    broken = cluster_document()
    broken["services"]["rabbitmq-2"]["depends_on"]["rabbitmq"]["condition"] = "eventually"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_the_cluster_override_names_three_clustered_nodes_everywhere() -> None:
    """Nodes rabbitmq-1..3 clustered by configuration with one cookie; every service given all three."""
    base, cluster = document()["services"], cluster_document()["services"]
    conf = (ROOT / "deploy/rabbitmq/cluster.conf").read_text()
    assert "cluster_formation.peer_discovery_backend = classic_config" in conf
    nodes = ["rabbitmq", "rabbitmq-2", "rabbitmq-3"]
    for n, name in enumerate(nodes, start=1):
        spec = cluster[name]
        assert spec["environment"]["RABBITMQ_NODENAME"] == f"rabbit@rabbitmq-{n}"
        assert f"cluster_formation.classic_config.nodes.{n} = rabbit@rabbitmq-{n}" in conf
        assert spec["environment"]["TRAITSWEB_ERLANG_COOKIE_FILE"].endswith("/TRAITSWEB_ERLANG_COOKIE")
        assert any(v.startswith("./deploy/rabbitmq/cluster.conf:/etc/rabbitmq/conf.d/") for v in spec["volumes"])
    assert "TRAITSWEB_ERLANG_COOKIE" in cluster["secrets"]["environment"]
    generator = (ROOT / "deploy/secrets/generate.py").read_text()
    assert '"TRAITSWEB_ERLANG_COOKIE"' in generator
    for name in ("model", "gateway", "desktop", "desktop-gui"):
        url = cluster[name]["environment"]["TRAITSWEB_BROKER_URL"]
        user = base[name]["environment"]["TRAITSWEB_BROKER_URL"].split("://")[1].split("@")[0]
        assert url == f"stomp://{user}@rabbitmq-1:61613,rabbitmq-2:61613,rabbitmq-3:61613", name
        assert cluster[name]["depends_on"]["rabbitmq-members"]["condition"] == "service_completed_successfully"
    for name in ("rabbitmq-2", "rabbitmq-3"):
        assert cluster[name]["image"] == base["rabbitmq"]["image"]
        assert f"{name}-data:/var/lib/rabbitmq" in cluster[name]["volumes"]
