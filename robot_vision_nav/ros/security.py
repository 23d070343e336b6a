"""Who can reach the stack: ROS_DOMAIN_ID, the discovery range, static peers and the SROS2 keystore.

`NetworkOptions` holds them, checked; `NetworkOptions.environment` gives the environment variables
that carry them to every node (rcl reads them at `rclpy.init`). The launch files declare
`SECURITY_LAUNCH_ARGUMENTS`, turn the values into options with `options_from_launch_values` and set
`launch_environment`'s variables with `SetEnvironmentVariable` before any node starts; `rvn run`
puts the same variables into its node processes' environment, or into this process's before
`rclpy.init`.

Discovery: ROS 2 Kilted reads `ROS_AUTOMATIC_DISCOVERY_RANGE` (LOCALHOST, SUBNET, SYSTEM_DEFAULT,
OFF) and `ROS_STATIC_PEERS`; it ignores `ROS_LOCALHOST_ONLY`, so setting that one keeps nothing on
this host. Unset, rcl's range is SUBNET: this module never leaves it unset, so a default never
widens discovery beyond LOCALHOST. An explicit value in the environment (docker/compose.yaml's
`ROS_AUTOMATIC_DISCOVERY_RANGE`) is kept unless the launch argument or `rvn run` option names one.

Security: with a keystore (`ros2 security create_keystore`), every node runs with
`ROS_SECURITY_ENABLE=true`, the strategy (Enforce: a node without valid keys does not start) and
one enclave, `ROS_SECURITY_ENCLAVE_OVERRIDE` (rcl's override of each context's `--enclave`; all
nodes of one process share a context's enclave anyway), which `ros2 security create_enclave` must
have made. Without one the environment's `ROS_SECURITY_*` are left as they are: no launch default
turns security off.

No node of the stack opens a network port of its own (test_security checks the sockets of a whole
stack): the only sockets are the DDS participant's, which rcl opens per context.

This module imports no rclpy: it is used by the launch files and tested where ROS is not installed.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from robot_vision_nav.ros.bringup import BringupError

DOMAIN_ID_MAX = 232  # the largest ID whose RTPS ports (7400 + 250 * ID + ...) fit in 16 bits
DOMAIN_ID_SAFE_MAX = 101  # above, Linux's default ephemeral ports (32768..60999) may collide
DISCOVERY_RANGES = ("LOCALHOST", "SUBNET", "SYSTEM_DEFAULT", "OFF")
DEFAULT_DISCOVERY_RANGE = "LOCALHOST"  # what an unset range becomes here (rcl's own default is SUBNET)
STRATEGIES = ("Enforce", "Permissive")
DEFAULT_ENCLAVE = "/robot_vision_nav"
STATIC_PEER_MAX = 255  # rmw's RMW_DISCOVERY_OPTIONS_STATIC_PEERS_MAX_LENGTH (256) less the NUL

DOMAIN_ID_VAR = "ROS_DOMAIN_ID"
DISCOVERY_RANGE_VAR = "ROS_AUTOMATIC_DISCOVERY_RANGE"
STATIC_PEERS_VAR = "ROS_STATIC_PEERS"
KEYSTORE_VAR = "ROS_SECURITY_KEYSTORE"
ENABLE_VAR = "ROS_SECURITY_ENABLE"
STRATEGY_VAR = "ROS_SECURITY_STRATEGY"
ENCLAVE_VAR = "ROS_SECURITY_ENCLAVE_OVERRIDE"

_NAME_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PEER = re.compile(r"[A-Za-z0-9_.:%/\[\]-]+")  # a host name, an IPv4/IPv6 address, or a subnet a.b.c.d/n

log = logging.getLogger(__name__)


class NetworkError(BringupError):
    """A domain ID, discovery range, static peer, keystore, enclave or strategy that cannot be used."""


@dataclass(frozen=True)
class NetworkOptions:
    """Where the stack's DDS traffic may go and whether it is authenticated; '' / -1 keeps the environment's.

    Attributes:
        domain_id: ROS_DOMAIN_ID, 0..232 (0..101 is safe on Linux with the default ephemeral port
            range); -1 = the environment's (unset: 0).
        discovery_range: ROS_AUTOMATIC_DISCOVERY_RANGE: LOCALHOST, SUBNET, SYSTEM_DEFAULT or OFF (any
            case); '' = the environment's, LOCALHOST where it has none.
        static_peers: ROS_STATIC_PEERS, host names or addresses separated by ';', discovered whatever
            the range; '' = the environment's.
        keystore: an SROS2 keystore folder (with `enclaves/` in it); '' = leave ROS_SECURITY_* as the
            environment has them.
        enclave: with a keystore, the enclave every node uses; it must exist in the keystore.
        strategy: with a keystore, Enforce (a node without valid keys fails to start) or Permissive.

    Raises:
        NetworkError: a value out of range or a keystore that is not one, naming the option, the
            value and what is allowed.

    """

    domain_id: int = -1
    discovery_range: str = ""
    static_peers: str = ""
    keystore: str = ""
    enclave: str = DEFAULT_ENCLAVE
    strategy: str = "Enforce"

    def __post_init__(self) -> None:
        if not (self.domain_id == -1 or 0 <= self.domain_id <= DOMAIN_ID_MAX):
            raise NetworkError(
                f"ros_domain_id {self.domain_id} is outside 0..{DOMAIN_ID_MAX} "
                f"(0..{DOMAIN_ID_SAFE_MAX} is safe on Linux; -1 or '' = the environment's ROS_DOMAIN_ID)"
            )
        scope = self.discovery_range.strip().upper()
        if scope not in (*DISCOVERY_RANGES, ""):
            raise NetworkError(
                f"discovery_range {self.discovery_range!r} is not one of {', '.join(DISCOVERY_RANGES)} "
                "('' = the environment's; Kilted ignores ROS_LOCALHOST_ONLY)"
            )
        object.__setattr__(self, "discovery_range", scope)
        for peer in self.peers:
            if len(peer) > STATIC_PEER_MAX or not _PEER.fullmatch(peer):
                raise NetworkError(
                    f"static_peers: {peer!r} is not a host name or address (letters, digits, . : - _ [ ] /; "
                    f"at most {STATIC_PEER_MAX} characters; peers are separated by ';')"
                )
        if self.strategy not in STRATEGIES:
            raise NetworkError(f"security_strategy {self.strategy!r} is not one of {', '.join(STRATEGIES)}")
        if self.enclave != "/" and not (
            self.enclave.startswith("/") and all(_NAME_TOKEN.fullmatch(p) for p in self.enclave[1:].split("/"))
        ):
            raise NetworkError(
                f"enclave {self.enclave!r} is not an absolute ROS name (/name/... of letters, digits and _, "
                "each part not starting with a digit)"
            )
        if self.keystore:
            object.__setattr__(self, "keystore", str(_check_keystore(self.keystore, self.enclave)))

    @property
    def peers(self) -> list[str]:
        """The static peers, one string each (empty parts of the ';' list dropped, as rcl does)."""
        return [p.strip() for p in self.static_peers.split(";") if p.strip()]

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The variables to set on top of `base` (default os.environ) so that every node gets these options.

        Only what changes: a '' / -1 option sets nothing, except an unset discovery range in `base`,
        which becomes LOCALHOST. A keystore sets ROS_SECURITY_KEYSTORE (absolute),
        ROS_SECURITY_ENABLE=true, ROS_SECURITY_STRATEGY and ROS_SECURITY_ENCLAVE_OVERRIDE.
        """
        base = os.environ if base is None else base
        out: dict[str, str] = {}
        if self.domain_id >= 0:
            out[DOMAIN_ID_VAR] = str(self.domain_id)
        if self.discovery_range:
            out[DISCOVERY_RANGE_VAR] = self.discovery_range
        elif not base.get(DISCOVERY_RANGE_VAR, "").strip():
            out[DISCOVERY_RANGE_VAR] = DEFAULT_DISCOVERY_RANGE
        if self.peers:
            out[STATIC_PEERS_VAR] = ";".join(self.peers)
        if self.keystore:
            out |= {
                KEYSTORE_VAR: self.keystore,
                ENABLE_VAR: "true",  # rcl takes exactly "true"
                STRATEGY_VAR: self.strategy,
                ENCLAVE_VAR: self.enclave,
            }
        return out

    def notes(self, base: Mapping[str, str] | None = None) -> list[str]:
        """Warnings about options that work but may surprise: a domain ID above 101, security left off."""
        env = {**(os.environ if base is None else base), **self.environment(base)}
        notes: list[str] = []
        domain = env.get(DOMAIN_ID_VAR, "").strip()
        if domain.isdigit() and DOMAIN_ID_SAFE_MAX < int(domain) <= DOMAIN_ID_MAX:
            notes.append(
                f"ROS_DOMAIN_ID {domain} is above {DOMAIN_ID_SAFE_MAX}: its DDS ports may collide with Linux's "
                "ephemeral ports (32768..60999); 0..101 is safe"
            )
        scope = env.get(DISCOVERY_RANGE_VAR, "")
        if scope in ("SUBNET", "SYSTEM_DEFAULT") and env.get(ENABLE_VAR) != "true":
            notes.append(
                f"discovery range {scope} without SROS2 (no keystore): any host on the network can see and "
                "command the stack"
            )
        return notes


def _check_keystore(keystore: str, enclave: str) -> Path:
    path = Path(keystore).expanduser().resolve()
    if not path.is_dir():
        raise NetworkError(f"keystore {path} is not a folder; create one with `ros2 security create_keystore {path}`")
    if not (path / "enclaves").is_dir():
        raise NetworkError(
            f"keystore {path} has no enclaves/ folder: not an SROS2 keystore "
            f"(`ros2 security create_keystore {path}` makes one)"
        )
    if not (path / "enclaves" / enclave.strip("/")).is_dir():
        raise NetworkError(
            f"keystore {path} has no enclave {enclave}; create it with `ros2 security create_enclave {path} {enclave}`"
        )
    return path


def apply_environment(options: NetworkOptions, env: dict[str, str]) -> dict[str, str]:
    """`env` updated in place (and returned) with `options.environment(env)`."""
    env.update(options.environment(env))
    return env


# ------------------------------------------------------------------ launch files
# (name, default, description) of the launch arguments bringup, sim and replay.launch.py add to
# their own. The defaults keep what the environment says, and an unset discovery range is LOCALHOST.
SECURITY_LAUNCH_ARGUMENTS: tuple[tuple[str, str, str], ...] = (
    (
        "ros_domain_id",
        "",
        f"ROS_DOMAIN_ID of every node, 0..{DOMAIN_ID_MAX} (0..{DOMAIN_ID_SAFE_MAX} is safe on Linux); "
        "'' = the environment's (unset: 0)",
    ),
    (
        "discovery_range",
        "",
        f"ROS_AUTOMATIC_DISCOVERY_RANGE: {', '.join(DISCOVERY_RANGES)}; '' = the environment's, "
        f"{DEFAULT_DISCOVERY_RANGE} where unset (Kilted ignores ROS_LOCALHOST_ONLY)",
    ),
    (
        "static_peers",
        "",
        "ROS_STATIC_PEERS: hosts or addresses separated by ';', discovered whatever the range; '' = the environment's",
    ),
    (
        "keystore",
        "",
        "SROS2 keystore folder (ros2 security create_keystore): every node authenticated and encrypted; "
        "'' = the environment's ROS_SECURITY_* (none: no security)",
    ),
    (
        "enclave",
        DEFAULT_ENCLAVE,
        "with keystore: the enclave of every node (ros2 security create_enclave KEYSTORE ENCLAVE)",
    ),
    (
        "security_strategy",
        "Enforce",
        "with keystore: Enforce (a node without valid keys does not start) or Permissive",
    ),
)


def options_from_launch_values(values: Mapping[str, str]) -> NetworkOptions:
    """NetworkOptions from resolved launch arguments; absent ones take their SECURITY_LAUNCH_ARGUMENTS default.

    Raises:
        NetworkError: a domain ID that is not an integer, or any value NetworkOptions refuses.

    """
    defaults = {name: default for name, default, _ in SECURITY_LAUNCH_ARGUMENTS}

    def text(name: str) -> str:
        return str(values.get(name, defaults[name])).strip()

    domain_text = text("ros_domain_id")
    try:
        domain_id = int(domain_text) if domain_text else -1
    except ValueError as err:
        raise NetworkError(
            f"launch argument ros_domain_id:={domain_text!r} is not an integer in 0..{DOMAIN_ID_MAX}"
        ) from err
    return NetworkOptions(
        domain_id=domain_id,
        discovery_range=text("discovery_range"),
        static_peers=text("static_peers"),
        keystore=text("keystore"),
        enclave=text("enclave") or DEFAULT_ENCLAVE,
        strategy=text("security_strategy") or "Enforce",
    )


def launch_environment(values: Mapping[str, str], base: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(name, value) of each variable a launch file sets with SetEnvironmentVariable before its nodes.

    Logs `NetworkOptions.notes` as warnings.

    Raises:
        NetworkError: see `options_from_launch_values`.

    """
    options = options_from_launch_values(values)
    for note in options.notes(base):
        log.warning(note)
    return sorted(options.environment(base).items())
