"""docker/compose.yaml and the files it mounts: schema-valid, authenticated, non-root, free of secrets.

No Docker engine here: the compose file is interpolated the way Compose does it and validated with
jsonschema against the committed Compose Specification schema (test/data/compose_spec.json); the
Jupyter config runs through jupyter_core's real config loader; the ssh start script runs in bash with
a stand-in sshd.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import ipaddress
import json
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft201909Validator, FormatChecker
from jsonschema.exceptions import ValidationError

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"
SCHEMA = REPO / "test" / "data" / "compose_spec.json"
JUPYTER_CONFIG = DOCKER / "jupyter_server_config.py"
SSHD_CONFIG = DOCKER / "sshd_config"
ENV_EXAMPLE = DOCKER / ".env.example"
DOCKERFILE = DOCKER / "Dockerfile"
HEALTHCHECK = DOCKER / "healthcheck.py"

GOOD_TOKEN = "0f" * 32  # 64 characters, what `openssl rand -hex 32` prints
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFake tester@laptop"
WORK_VOLUMES = {"models", "bags", "configs", "notebooks", "datasets", "runs"}
SECRET_WORDS = re.compile(r"password|passwd|token|secret|api_?key", re.IGNORECASE)


# --- Compose's variable interpolation ($$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err})


class MissingVariableError(Exception):
    """A ${VAR:?message} or ${VAR?message} whose variable is missing: compose refuses the file."""


_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<invalid>))"
)


def interpolate_text(text: str, env: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["invalid"] is not None:
            raise ValueError(f"invalid interpolation format in {text!r}")
        name = match["braced"] or match["named"]
        value, op = env.get(name), match["op"]
        if op is None:
            return value or ""
        missing = value is None or (op.startswith(":") and value == "")
        if op.endswith("-"):
            return match["arg"] if missing else str(value)
        if missing:
            raise MissingVariableError(f"required variable {name} is missing a value: {match['arg']}")
        return str(value)

    return _VARIABLE.sub(substitute, text)


def interpolate(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate_text(node, env)
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    return node


def compose_variables(text: str) -> set[str]:
    """Names of the variables a compose file reads ($$ escapes are the shell's, not compose's)."""
    return {m["braced"] or m["named"] for m in _VARIABLE.finditer(text) if m["braced"] or m["named"]}


# --- the formats docker-compose 1.29.2 registered for this schema

_PORT = re.compile(
    r"(?:(?:(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:]+\]):)?(?:\d+(?:-\d+)?)?:)?\d+(?:-\d+)?(?:/(?:tcp|udp|sctp))?"
)
FORMATS = FormatChecker()


@FORMATS.checks("ports")
def _is_port(instance: object) -> bool:
    if isinstance(instance, int):
        return 0 < instance < 65536
    return isinstance(instance, str) and _PORT.fullmatch(instance) is not None


@FORMATS.checks("expose")
def _is_expose(instance: object) -> bool:
    return re.fullmatch(r"\d+(?:-\d+)?(?:/(?:tcp|udp|sctp))?", str(instance)) is not None


@FORMATS.checks("duration")
def _is_duration(instance: object) -> bool:
    return isinstance(instance, str) and re.fullmatch(r"(?:\d+(?:\.\d+)?(?:ns|us|ms|s|m|h))+", instance) is not None


@FORMATS.checks("subnet_ip_address", raises=ValueError)
def _is_subnet(instance: object) -> bool:
    return isinstance(instance, str) and "/" in instance and bool(ipaddress.ip_network(instance, strict=False))


def compose_validator() -> Draft201909Validator:
    schema = json.loads(SCHEMA.read_text())
    assert schema["$schema"].startswith("http://json-schema.org/draft/2019-09/schema")
    Draft201909Validator.check_schema(schema)
    return Draft201909Validator(schema, format_checker=FORMATS)


# --- fixtures and helpers


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """compose.yaml as written (YAML merge keys resolved, variables not yet interpolated)."""
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    """compose.yaml as Compose sees it with only JUPYTER_TOKEN set: every other variable at its default."""
    return interpolate(raw, {"JUPYTER_TOKEN": GOOD_TOKEN})


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """target -> (source, mode) of a service's short-syntax volumes."""
    out: dict[str, tuple[str, str]] = {}
    for entry in service.get("volumes", []):
        assert isinstance(entry, str), f"long-syntax volume {entry!r}: this file uses source:target[:mode]"
        source, target, *mode = entry.split(":")
        out[target] = (source, mode[0] if mode else "rw")
    return out


def is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def load_healthcheck() -> Any:
    """docker/healthcheck.py as a module (the image copies it to /opt/rvn; it is not packaged)."""
    spec = importlib.util.spec_from_file_location("rvn_docker_healthcheck", HEALTHCHECK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mounted_under(path: str, service: dict[str, Any]) -> tuple[str, str]:
    """(source, mode) of the mount that holds `path` in `service`."""
    for target, source_mode in mounts(service).items():
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return source_mode
    raise AssertionError(f"{path} is on no volume of the service")


# --- schema


def test_compose_file_validates_against_the_compose_specification_schema(compose: dict[str, Any]) -> None:
    errors = sorted(compose_validator().iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("services", "jupyter", "ports"), ["127.0.0.1:8888:8888:1"]),  # a port with four parts
        (("services", "stack", "gpu_count"), 1),  # a key the specification does not have
        (("services", "stack", "stop_grace_period"), "soon"),  # not a duration
        (("services", "train", "deploy", "resources", "reservations", "devices"), [{"count": [1]}]),
        (("name",), "robot_vision_nav"),  # top-level name came after this schema: hence the volume names
    ],
    ids=["port", "unknown-key", "duration", "gpu-count", "top-level-name"],
)
def test_schema_validation_rejects_a_broken_compose_file(
    compose: dict[str, Any], path: tuple[str, ...], value: object
) -> None:
    broken = copy.deepcopy(compose)
    parent = broken
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    with pytest.raises(ValidationError):
        compose_validator().validate(broken)


def test_compose_refuses_to_start_anything_without_a_jupyter_token(raw: dict[str, Any]) -> None:
    for env in ({}, {"JUPYTER_TOKEN": ""}):
        with pytest.raises(MissingVariableError, match="JUPYTER_TOKEN"):
            interpolate(raw, env)


def test_services_and_profiles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"stack", "jupyter", "train", "ssh"}
    # `up` starts the stack and Jupyter; training and sshd only when asked for.
    assert "profiles" not in services["stack"] and "profiles" not in services["jupyter"]
    assert services["train"]["profiles"] == ["train"]
    assert services["ssh"]["profiles"] == ["ssh"]
    assert services["stack"]["restart"] == services["jupyter"]["restart"] == "unless-stopped"
    for service in services.values():
        assert service["build"] == {"context": "..", "dockerfile": "docker/Dockerfile", "target": "runtime"}
        assert service["image"] == "robot_vision_nav:kilted"


# --- volumes


def test_work_lives_in_named_volumes_with_fixed_names(compose: dict[str, Any]) -> None:
    volumes = compose["volumes"]
    assert set(volumes) >= WORK_VOLUMES
    for key, spec in volumes.items():
        # A fixed name: the same volume whatever the compose project is called; never external or tmpfs.
        assert spec == {"name": f"robot_vision_nav_{key}"}, key


def test_every_mount_is_a_declared_volume_or_a_read_only_bind_of_a_committed_file(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        for target, (source, mode) in mounts(service).items():
            assert target.startswith("/"), (name, target)
            if is_bind(source):
                assert mode == "ro", f"{name}: bind {source} must be read-only"
                assert (DOCKER / source).is_file(), f"{name}: bind source {source} is not a file in docker/"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                assert mode in {"rw", "ro"}, (name, mode)


def test_stack_mounts_models_configs_and_bags(compose: dict[str, Any]) -> None:
    assert mounts(compose["services"]["stack"]) == {
        "/data/models": ("models", "ro"),
        "/data/config": ("configs", "ro"),
        "/data/bags": ("bags", "rw"),
    }


# --- GPU, network


@pytest.mark.parametrize("name", ["stack", "train"])
def test_stack_and_train_reserve_an_nvidia_gpu(compose: dict[str, Any], name: str) -> None:
    devices = compose["services"][name]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_stack_uses_host_networking_with_discovery_from_the_environment(raw: dict[str, Any]) -> None:
    stack = interpolate(raw, {"JUPYTER_TOKEN": GOOD_TOKEN})["services"]["stack"]
    assert stack["network_mode"] == "host"
    assert stack["ipc"] == "host"  # Fast DDS shared memory with ROS 2 processes outside the container
    assert "ports" not in stack and "networks" not in stack  # both are meaningless with host networking
    assert stack["environment"]["ROS_DOMAIN_ID"] == "0"
    assert stack["environment"]["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    env = {"JUPYTER_TOKEN": GOOD_TOKEN, "ROS_DOMAIN_ID": "42", "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"}
    chosen = interpolate(raw, env)["services"]["stack"]["environment"]
    assert chosen["ROS_DOMAIN_ID"] == "42"
    assert chosen["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET"


def launch_values(command: list[str]) -> dict[str, str]:
    """name -> value of the `name:=value` launch arguments after `ros2 launch PACKAGE FILE`."""
    values = {}
    for argument in command[4:]:
        name, separator, value = argument.partition(":=")
        assert separator, f"{argument!r} is not a name:=value launch argument"
        values[name] = value
    return values


def test_stack_command_is_the_bringup_launch_with_declared_arguments(raw: dict[str, Any]) -> None:
    from robot_vision_nav.ros.launch_files import LAUNCH_ARGUMENTS, options_from_launch_values

    env = {"JUPYTER_TOKEN": GOOD_TOKEN, "RVN_PARAMS_FILE": "/data/config/robot_vision_nav.yaml"}
    stack = interpolate(raw, env)["services"]["stack"]
    assert stack["command"][:4] == ["ros2", "launch", "robot_vision_nav", "bringup.launch.py"]
    assert (REPO / "launch" / "bringup.launch.py").is_file()
    values = launch_values(stack["command"])
    assert set(values) <= {name for name, _, _ in LAUNCH_ARGUMENTS}
    options = options_from_launch_values(values)
    assert options.params_file == "/data/config/robot_vision_nav.yaml"
    assert mounted_under(options.params_file, stack) == ("configs", "ro")
    # Unset variables leave '' = the package's own params file, its model and device.
    defaults = options_from_launch_values(
        launch_values(interpolate(raw, {"JUPYTER_TOKEN": GOOD_TOKEN})["services"]["stack"]["command"])
    )
    assert (defaults.params_file, defaults.model, defaults.device) == ("", "", "")


# --- training


def test_train_command_is_a_valid_rvn_train_reading_datasets_read_only(compose: dict[str, Any]) -> None:
    from robot_vision_nav.cli import build_parser

    train = compose["services"]["train"]
    assert train["command"][0] == "rvn"
    args = build_parser().parse_args(train["command"][1:])
    assert args.command == "train"
    assert mounted_under(args.data_root, train) == ("datasets", "ro")
    assert mounted_under(args.output_dir, train) == ("runs", "rw")
    assert mounts(train)["/data/datasets"] == ("datasets", "ro")
    assert mounts(train)["/data/runs"] == ("runs", "rw")
    size = re.fullmatch(r"(\d+)(gb|g)", str(train["shm_size"]).lower())
    assert size and int(size[1]) >= 1, "DataLoader workers need more than Docker's 64 MB of /dev/shm"
    assert train["restart"] == "no"


# --- Jupyter: published on loopback, token required


def test_published_ports_bind_the_host_loopback_only(compose: dict[str, Any]) -> None:
    published = {name: s.get("ports", []) for name, s in compose["services"].items()}
    assert published["jupyter"] == ["127.0.0.1:8888:8888"]
    assert published["ssh"] == ["127.0.0.1:2222:2222"]
    for name, ports in published.items():
        for port in ports:
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)


def test_jupyter_token_is_a_required_variable_with_no_default(raw: dict[str, Any]) -> None:
    environment = raw["services"]["jupyter"]["environment"]
    assert isinstance(environment, dict)
    assert re.fullmatch(r"\$\{JUPYTER_TOKEN:\?[^}]+\}", environment["JUPYTER_TOKEN"])
    # Nowhere else in the file: no default, no literal.
    text = COMPOSE.read_text()
    assert text.count("JUPYTER_TOKEN:?") == 1
    assert not re.search(r"\$\{JUPYTER_TOKEN:?-", text)


def test_jupyter_loads_the_mounted_config(compose: dict[str, Any]) -> None:
    jupyter = compose["services"]["jupyter"]
    target = "/etc/jupyter/jupyter_server_config.py"
    assert mounts(jupyter)[target] == ("./jupyter_server_config.py", "ro")
    assert jupyter["command"][:2] == ["jupyter", "lab"]
    assert f"--config={target}" in jupyter["command"]
    assert mounts(jupyter)["/data/notebooks"] == ("notebooks", "rw")


def load_jupyter_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, token: str | None) -> Any:
    """docker/jupyter_server_config.py through jupyter_core's JupyterApp.load_config_file, as `--config=` does."""
    from jupyter_core.application import JupyterApp

    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "jupyter"))
    monkeypatch.delenv("TRAITLETS_APPLICATION_RAISE_CONFIG_FILE_ERROR", raising=False)
    if token is None:
        monkeypatch.delenv("JUPYTER_TOKEN", raising=False)
    else:
        monkeypatch.setenv("JUPYTER_TOKEN", token)
    app = JupyterApp(config_file=str(JUPYTER_CONFIG))
    app.load_config_file()  # suppress_errors=True: a config that raised an Exception would be logged and skipped
    return app.config


@pytest.mark.parametrize(
    "token", [None, "", " " * 40, "change-me", "x" * 31], ids=["unset", "empty", "blank", "placeholder", "31-chars"]
)
def test_jupyter_config_refuses_a_missing_or_short_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, token: str | None
) -> None:
    with pytest.raises(SystemExit) as refused:
        load_jupyter_config(monkeypatch, tmp_path, token)
    message = str(refused.value.code)
    assert "JUPYTER_TOKEN" in message
    assert token is None or not token.strip() or token not in message  # never echo the token itself


@pytest.mark.parametrize("token", ["y" * 32, GOOD_TOKEN], ids=["32-chars", "hex-32-bytes"])
def test_jupyter_config_sets_a_strong_token_and_keeps_the_guards_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, token: str, compose: dict[str, Any]
) -> None:
    config = load_jupyter_config(monkeypatch, tmp_path, token)
    assert config.IdentityProvider.token == token
    server = config.ServerApp
    assert "token" not in server and "password" not in server  # no second, weaker way in
    assert "hashed_password" not in config.PasswordIdentityProvider
    assert config.PasswordIdentityProvider.allow_password_change is False
    assert server.allow_unauthenticated_access is False
    assert server.disable_check_xsrf is False
    assert server.allow_root is False
    assert server.open_browser is False
    assert server.allow_remote_access is False
    assert server.ip == "0.0.0.0"
    jupyter = compose["services"]["jupyter"]
    assert f"{server.port}" == jupyter["ports"][0].rsplit(":", 1)[1]
    assert server.port_retries == 0
    assert server.root_dir in mounts(jupyter)


# --- the image's notebook, health check and rendering under compose


def test_jupyter_shows_the_notebook_the_image_carries(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The image copies the notebook into /opt/rvn/workspace and links that from /data/notebooks.

    Docker copies the image's /data/notebooks (the link) into the notebooks volume when it creates
    it, which a named volume gets and a bind mount would hide; Jupyter's root is that folder.
    """
    jupyter = compose["services"]["jupyter"]
    source, mode = mounts(jupyter)["/data/notebooks"]
    assert not is_bind(source) and source in compose["volumes"] and mode == "rw"
    assert load_jupyter_config(monkeypatch, tmp_path, GOOD_TOKEN).ServerApp.root_dir == "/data/notebooks"
    dockerfile = DOCKERFILE.read_text()
    link = re.search(r"ln -s (\S+) /data/notebooks/(\S+)", dockerfile)
    assert link and link[1] == "/opt/rvn/workspace", "the image links its notebook workspace into /data/notebooks"
    assert re.search(r"^COPY notebooks/ /opt/rvn/workspace/notebooks/$", dockerfile, re.MULTILINE)
    for name, service in compose["services"].items():
        for target in mounts(service):
            assert not target.startswith("/opt/rvn"), f"{name} mounts {target} over the image's own files"


def test_services_keep_the_images_healthcheck_and_headless_rendering(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        # the image's HEALTHCHECK, its launch-path row included, is what `docker compose ps` reports
        assert "healthcheck" not in service, f"{name} replaces or disables the image's HEALTHCHECK"
        assert service.get("environment", {}).get("MUJOCO_GL", "egl") == "egl", f"{name}: MuJoCo renders through EGL"


def test_healthcheck_checks_the_launch_with_the_stacks_own_arguments(
    raw: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "JUPYTER_TOKEN": GOOD_TOKEN,
        "RVN_PARAMS_FILE": "/data/config/robot_vision_nav.yaml",
        "RVN_MODEL": "/data/models/segnet_warehouse.safetensors",
        "RVN_DEVICE": "cuda:1",
        "RVN_NAMESPACE": "robot1",
    }
    stack = interpolate(raw, env)["services"]["stack"]
    healthcheck = load_healthcheck()
    from robot_vision_nav import doctor

    # Only the launch row's arguments matter here: the other rows answer at once.
    row = doctor.Check("stub", doctor.OK, "")
    monkeypatch.setattr(doctor, "check_python", lambda: row)
    monkeypatch.setattr(doctor, "check_torch", lambda: (row, None))
    monkeypatch.setattr(doctor, "check_configured_model", lambda model: row)
    monkeypatch.setattr(doctor, "check_ros", lambda: [row])
    monkeypatch.setattr(doctor, "check_models", lambda models_dir: [row])
    given: list[dict[str, str]] = []
    monkeypatch.setattr(healthcheck, "check_launch_path", lambda python, values: given.append(dict(values)) or row)
    for key in ("RVN_PARAMS_FILE", "RVN_MODEL", "RVN_DEVICE", "RVN_NAMESPACE"):
        monkeypatch.setenv(key, stack["environment"][key])
    healthcheck.run_checks("", "")
    launch = launch_values(stack["command"])
    assert given == [{name: launch[name] for name in ("params_file", "model", "device", "namespace")}]
    assert launch["namespace"] == "robot1"


# --- non-root, least privilege


def test_every_service_runs_as_a_non_root_user(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        user = re.fullmatch(r"(\d+):(\d+)", service.get("user", ""))
        assert user, f"{name}: user must be an explicit uid:gid, not the image's default"
        assert int(user[1]) != 0 and int(user[2]) != 0, f"{name} runs as root"
        assert service["user"] == "1000:1000", f"{name}: the image's rvn user"


def test_services_drop_capabilities_and_privilege_escalation(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert not service.get("privileged", False), name
        assert service["cap_drop"] == ["ALL"] and not service.get("cap_add"), name
        assert "no-new-privileges:true" in service["security_opt"], name


# --- ssh


def sshd_settings() -> dict[str, str]:
    """keyword (lower case) -> value; sshd takes the first value of a keyword, so duplicates are refused."""
    settings: dict[str, str] = {}
    for line in SSHD_CONFIG.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, value = line.partition(" ")
        keyword = keyword.lower()
        assert keyword not in settings, f"{keyword} set twice"
        assert keyword not in {"match", "include"}, f"{keyword} could override the settings below"
        settings[keyword] = value.strip()
    return settings


def test_sshd_config_allows_public_keys_only_and_no_root(compose: dict[str, Any]) -> None:
    settings = sshd_settings()
    assert settings["pubkeyauthentication"] == "yes"
    assert settings["authenticationmethods"] == "publickey"
    assert settings["passwordauthentication"] == "no"
    assert settings["permitemptypasswords"] == "no"
    assert settings["kbdinteractiveauthentication"] == "no"
    assert settings.get("challengeresponseauthentication", "no") == "no"
    assert settings["permitrootlogin"] == "no"
    assert settings["allowusers"] == "rvn"
    assert settings["usepam"] == "no"
    assert settings["strictmodes"] == "yes"
    # sshd as uid 1000 needs an unprivileged port; compose publishes exactly that one.
    assert int(settings["port"]) > 1024
    assert compose["services"]["ssh"]["ports"][0].endswith(f":{settings['port']}")
    assert mounts(compose["services"]["ssh"])["/etc/rvn/sshd_config"] == ("./sshd_config", "ro")


def run_ssh_start(compose: dict[str, Any], tmp_path: Path, keys: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The ssh service's start script in bash, with a stand-in sshd that records its arguments."""
    command = compose["services"]["ssh"]["command"]
    assert command[:2] == ["bash", "-c"]
    bin_dir, home, state = tmp_path / "bin", tmp_path / "home", tmp_path / "state"
    for folder in (bin_dir, home, state):
        folder.mkdir(exist_ok=True)
    sshd = bin_dir / "sshd"
    sshd.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$SSHD_ARGS"\n')
    sshd.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(home),
        "RVN_SSH_STATE": str(state),
        "SSH_AUTHORIZED_KEYS": keys,
        "SSHD_ARGS": str(tmp_path / "sshd.args"),
    }
    done = subprocess.run(["bash", "-c", command[2]], env=env, capture_output=True, text=True, timeout=60, check=False)
    return done, tmp_path


def test_ssh_start_installs_the_public_keys_and_starts_sshd_with_a_kept_host_key(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    keys = f"{PUBLIC_KEY}\nrestrict ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAISecond second@desk"
    done, root = run_ssh_start(compose, tmp_path, keys)
    assert done.returncode == 0, done.stderr
    authorized = root / "home" / ".ssh" / "authorized_keys"
    assert authorized.read_text() == keys + "\n"
    assert stat.S_IMODE(authorized.stat().st_mode) == 0o600
    assert stat.S_IMODE(authorized.parent.stat().st_mode) == 0o700
    host_key = root / "state" / "ssh_host_ed25519_key"
    assert stat.S_IMODE(host_key.stat().st_mode) == 0o600
    assert (root / "sshd.args").read_text().split("\n")[:-1] == [
        "-D",
        "-e",
        "-f",
        "/etc/rvn/sshd_config",
        "-o",
        f"HostKey={host_key}",
    ]
    first = (root / "state" / "ssh_host_ed25519_key.pub").read_text()
    again, _ = run_ssh_start(compose, tmp_path, keys)
    assert again.returncode == 0, again.stderr
    assert (root / "state" / "ssh_host_ed25519_key.pub").read_text() == first, "the host key must survive a restart"


@pytest.mark.parametrize(
    "keys",
    [
        "",
        "   ",
        "change-me",
        "-----BEGIN OPENSSH " + "PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH " + "PRIVATE KEY-----",
    ],
    ids=["empty", "blank", "placeholder", "private-key"],
)
def test_ssh_start_refuses_without_a_public_key(compose: dict[str, Any], tmp_path: Path, keys: str) -> None:
    done, root = run_ssh_start(compose, tmp_path, keys)
    assert done.returncode != 0
    assert "SSH_AUTHORIZED_KEYS" in done.stderr
    assert not (root / "sshd.args").exists(), "sshd must not start"
    assert not (root / "home" / ".ssh" / "authorized_keys").exists()


# --- secrets


def literal_secrets(path: Path) -> list[str]:
    """Lines of `path` that give a password/token/secret a literal value (env references and empty values pass)."""
    text = path.read_text(errors="replace")
    found: list[str] = []
    if path.suffix == ".py":
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [ast.unparse(t) for t in targets]
                value = node.value
                if (
                    any(SECRET_WORDS.search(n) for n in names)
                    and isinstance(value, ast.Constant)
                    and isinstance(value.value, str)
                    and value.value
                ):
                    found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
        return found
    assignment = re.compile(r"^\s*(?:-\s*)?(?:export\s+|ENV\s+|ARG\s+)?(?P<key>[\w.-]+)\s*[:=]\s*(?P<value>.*)$")
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        match = assignment.match(line)
        if not match or not SECRET_WORDS.search(match["key"]):
            continue
        value = match["value"].split(" #")[0].strip().strip("\"'")
        if value and not value.startswith("$"):
            found.append(f"{path.name}:{number}: {line.strip()}")
    return found


def test_secret_scan_flags_literal_values_and_passes_references(tmp_path: Path) -> None:
    bad_yaml, bad_py = tmp_path / "bad.yaml", tmp_path / "bad.py"
    bad_yaml.write_text("x:\n  JUPYTER_TOKEN: abc123\n  DB_PASSWORD=hunter2\n  ENV API_KEY=k\n")
    bad_py.write_text('c = object()\nc.IdentityProvider.token = "abc123"\n')
    assert len(literal_secrets(bad_yaml)) == 3
    assert len(literal_secrets(bad_py)) == 1
    good = tmp_path / "good.yaml"
    good.write_text('JUPYTER_TOKEN: "${JUPYTER_TOKEN:?required}"\nJUPYTER_TOKEN=\n# token: example\n')
    assert literal_secrets(good) == []


def test_no_literal_secret_in_docker_files_or_build_arguments(compose: dict[str, Any]) -> None:
    files = [p for p in DOCKER.rglob("*") if p.is_file() and p.name != ".env"]
    assert {COMPOSE, JUPYTER_CONFIG, SSHD_CONFIG, ENV_EXAMPLE} <= set(files)
    found = [line for path in files for line in literal_secrets(path)]
    assert not found, "\n".join(found)
    for service in compose["services"].values():
        assert set(service["build"]) == {"context", "dockerfile", "target"}, "no build args: nothing enters the image"
        assert "secrets" not in service


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, separator, value = line.partition("=")
            assert separator, f".env.example line without '=': {line!r}"
            values[key.strip()] = value.strip()
    return values


def test_env_example_leaves_every_secret_empty_and_documents_every_variable(raw: dict[str, Any]) -> None:
    values = env_example()
    for key, value in values.items():
        if SECRET_WORDS.search(key) or key == "SSH_AUTHORIZED_KEYS":
            assert value == "", f"{key} must be empty in .env.example"
    assert values["COMPOSE_PROJECT_NAME"] == "robot_vision_nav"
    read = compose_variables(COMPOSE.read_text())
    assert read == set(values) - {"COMPOSE_PROJECT_NAME"}
    # A value given in the example is the compose default, so copying the file changes nothing but secrets.
    defaults = interpolate(raw, {"JUPYTER_TOKEN": GOOD_TOKEN})
    from_example = interpolate(raw, {**{k: v for k, v in values.items() if v}, "JUPYTER_TOKEN": GOOD_TOKEN})
    assert from_example == defaults


def test_the_filled_in_env_file_is_git_ignored() -> None:
    patterns = {line.strip() for line in (REPO / ".gitignore").read_text().splitlines()}
    assert patterns & {".env", "/docker/.env", "docker/.env", "**/.env"}, "docker/.env holds the Jupyter token"
