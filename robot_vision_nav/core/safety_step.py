"""What safety_node decides on each message and watchdog tick, without ROS.

`SafetyStep` is the layer's state between messages: the gate (`core.safety.SafetyGate`: e-stop,
input ages, the last verdict), the depth check (`DepthSafety`), the camera model in use, the order
of depth stamps (`core.clock.StampOrder`), whether the base was last told to move, the state the
node reports on safety_state and the counts for /diagnostics. Each handler returns a `Reaction`:
a problem to warn about, naming the inputs it concerns, and the command to send to the base now, if
any. The rules:

- every command passes through the gate; a non-finite one is zeroed, with a warning;
- a depth frame is judged only with a camera model received within `depth_timeout_s`; a frame that
  cannot be judged forgets the last verdict (stopped until a good frame) and zeroes a moving robot
  at once;
- a judged frame stamped before the newest judged one (reordered in transport) is ignored;
- a stop verdict zeroes a moving robot at once, not at the controller's next command, which may be
  late or never come;
- the watchdog zeroes a moving robot once its command or depth is stale (`core.clock.is_fresh`);
- the e-stop zeroes at once, and again on every message that engages it, and holds until released.

Times are integers in ns on the node clock, handed in; the wall clock is read only to time the
judging for /diagnostics. This module must never import ROS.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.clock import StampOrder
from robot_vision_nav.core.geometry import CameraMount, PinholeIntrinsics
from robot_vision_nav.core.rectify import Distortion
from robot_vision_nav.core.safety import Action, DepthSafety, GateOutput, SafetyConfig, SafetyError, SafetyGate
from robot_vision_nav.core.units import NS_PER_S

# The inputs a Reaction names; the node maps each to its topic.
CMD, DEPTH, INFO, CLOCK = "cmd_vel", "depth", "camera_info", "clock"


@dataclass(frozen=True)
class Reaction:
    """What the node does next: warn about `problem` naming the inputs `about`, then send `send` (None: nothing)."""

    send: GateOutput | None = None
    stamp_ns: int | None = None  # the stamp of the command sent; None: the node clock's now
    about: tuple[str, ...] = ()
    problem: str = ""


class SafetyStep:
    """The safety layer's state between messages (see the module docstring).

    Args:
        config: the layer's parameters (`reconfigure` when they change).
        e_stop: start with the e-stop engaged.

    """

    def __init__(self, config: SafetyConfig, e_stop: bool = False) -> None:
        self.config = config
        self.gate = SafetyGate(config)
        self.depth = DepthSafety(config)
        # A depth frame reordered in transport would put an older verdict (free) over a newer one (stop).
        # A clock that restarted must be followed; a stale frame the gate's age check turns into a stop.
        self.depth_order = StampOrder(NS_PER_S, confirm=3, confirm_jump=1)
        self.intrinsics: PinholeIntrinsics | None = None
        self.distortion: Distortion | None = None  # the lens the camera_info declares
        self.info_ns: int | None = None  # when the camera model was received
        self.moving = False  # the last command sent to the base was not zero
        self.judge_ms = 0.0
        self.counts = {"commands": 0, "zeroed": 0, "slowed": 0, "e_stops": 0, "out_of_order": 0}
        self.state = "stale: cmd_vel, depth" if config.use_depth else "stale: cmd_vel"
        if e_stop:
            self.gate.set_e_stop(True)
            self.counts["e_stops"] += 1
            self.state = "e_stop"

    def reconfigure(self, config: SafetyConfig) -> None:
        """New parameters: a new mount or zone judges the next frame afresh, stopped until then."""
        self.config = config
        self.gate.reconfigure(config)
        self.depth.reconfigure(config)
        self.gate.forget_depth()

    # ------------------------------------------------------------------ commands and the e-stop
    def on_cmd(self, linear_mps: float, angular_rps: float, stamp_ns: int | None, now_ns: int) -> Reaction:
        """A command from the controller, stamped `stamp_ns` (None: unstamped): what the base gets."""
        self.counts["commands"] += 1
        self.gate.on_command(now_ns)
        out = self.gate.filter(linear_mps, angular_rps, now_ns)
        if out.is_zero and (linear_mps != 0.0 or angular_rps != 0.0):
            self.counts["zeroed"] += 1
        elif out.state == "slowdown":
            self.counts["slowed"] += 1
        problem = "non-finite command; zero velocity sent" if out.state.startswith("stop: non-finite") else ""
        return self._send(out, stamp_ns, (CMD,), problem)

    def on_e_stop(self, engaged: bool, now_ns: int) -> tuple[bool, Reaction]:
        """Engage or release the e-stop: whether that changed it, and zero at once when engaged."""
        changed = self.gate.set_e_stop(engaged)
        if changed:
            self.counts["e_stops"] += int(engaged)
        if engaged:
            return changed, self.stop("e_stop")
        self.state = self.idle_state(now_ns)
        return changed, Reaction()

    def stop(self, state: str) -> Reaction:
        """Send zero now, saying `state` (e_stop, inactive, switching_message_type)."""
        return self._send(GateOutput(0.0, 0.0, state))

    def on_watchdog(self, now_ns: int) -> Reaction:
        """Zero a moving robot whose inputs went stale; a still one only reports them."""
        stale = self.gate.stale(now_ns)
        if self.gate.e_stop or not stale:
            return Reaction()
        state = f"stale: {', '.join(stale)}"
        if self.moving:
            return self._send(
                GateOutput(0.0, 0.0, state), None, tuple(stale), "stale input: older than its timeout; zero velocity"
            )
        self.state = state
        return Reaction()

    def idle_state(self, now_ns: int) -> str:
        """The state while no command passes: the stale inputs, else the last verdict."""
        stale = self.gate.stale(now_ns)
        if stale:
            return f"stale: {', '.join(stale)}"
        return self.gate.verdict.name if self.gate.verdict is not None else "free"

    # ------------------------------------------------------------------ the camera model and depth
    def on_camera(self, intrinsics: PinholeIntrinsics, distortion: Distortion, now_ns: int) -> None:
        """A usable camera model arrived at `now_ns`."""
        self.intrinsics, self.distortion, self.info_ns = intrinsics, distortion, now_ns

    def lose_camera(self, problem: str) -> Reaction:
        """An unusable camera model: no depth can be judged until a good one arrives."""
        self.intrinsics = None
        return self.lose_depth(INFO, problem)

    def check_camera(self, now_ns: int) -> Reaction | None:
        """None when a depth frame received at `now_ns` can be judged, else the stop for why not."""
        if self.intrinsics is None or self.info_ns is None:
            return self.lose_depth(INFO, "no usable camera_info yet: depth cannot be judged; stopping")
        # Only age counts, not core.clock.is_fresh: at clock 0 the gate stops on "clock" already, and a
        # camera model received before the clock jumped back still describes the camera.
        if now_ns - self.info_ns > self.config.depth_timeout_s * NS_PER_S:
            return self.lose_depth(INFO, "camera_info is stale; depth cannot be judged; stopping")
        return None

    def lose_depth(self, about: str = "", problem: str = "") -> Reaction:
        """No depth to judge by: forget the verdict (stopped until the next good frame), zero a moving robot now."""
        self.gate.forget_depth()
        names = (about,) if about else ()
        if self.moving:
            return self._send(GateOutput(0.0, 0.0, "stale: depth"), None, names, problem)
        return Reaction(about=names, problem=problem)

    def on_depth(
        self,
        decode: Callable[[PinholeIntrinsics, Distortion | None], NDArray[np.generic]],
        mount: CameraMount,
        stamp_ns: int,
        now_ns: int,
    ) -> Reaction:
        """Judge a depth frame stamped `stamp_ns`, received at `now_ns`, seen from `mount` (after `check_camera`).

        `decode(intrinsics, distortion)` gives the frame's image as the pinhole camera `intrinsics`
        sees it, timed with the judging; it raises SafetyError for a frame that cannot be used (the
        robot stops), anything else it raises passes through with nothing changed.
        """
        assert self.intrinsics is not None  # check_camera said so
        started = time.perf_counter()
        try:
            verdict = self.depth.judge(decode(self.intrinsics, self.distortion), self.intrinsics, mount)
        except SafetyError as err:
            return self.lose_depth(DEPTH, f"unusable depth: {err}; stopping")
        self.judge_ms = (time.perf_counter() - started) * 1e3
        judged = self.depth_order.newest_ns
        if self.depth_order.reordered(stamp_ns):  # after judging: a bad frame stops, in any order
            self.counts["out_of_order"] += 1
            problem = f"stamps out of order: {stamp_ns} ns is older than the judged {judged} ns; ignored"
            return Reaction(about=(DEPTH,), problem=problem)
        self.gate.on_verdict(verdict, received_ns=now_ns, stamp_ns=stamp_ns)
        self.depth_order.take(stamp_ns)
        problem = ""
        if verdict.blind:
            problem = f"depth blind: {verdict.valid_fraction:.0%} of the pixels hold a depth in range; stopping"
        if self.moving and verdict.action == Action.STOP and not self.gate.e_stop:
            return self._send(
                GateOutput(0.0, 0.0, "stop: depth blind" if verdict.blind else "stop"), None, (DEPTH,), problem
            )
        return Reaction(about=(DEPTH,), problem=problem)

    # ------------------------------------------------------------------ output
    def _send(
        self, out: GateOutput, stamp_ns: int | None = None, about: tuple[str, ...] = (), problem: str = ""
    ) -> Reaction:
        self.moving = not out.is_zero
        self.state = out.state
        return Reaction(out, stamp_ns, about, problem)

    def values(self, camera_mount_from: str) -> dict[str, str]:
        """The layer's key/values for /diagnostics; `camera_mount_from` is where the node found the mount."""
        verdict = self.gate.verdict
        return {
            "state": self.state,
            "e_stop": str(self.gate.e_stop),
            "zone": verdict.name if verdict is not None else "unknown",
            "stop_points": str(verdict.stop_points if verdict else 0),
            "slowdown_points": str(verdict.slowdown_points if verdict else 0),
            "nearest_m": f"{verdict.nearest_m:.3f}" if verdict and math.isfinite(verdict.nearest_m) else "none",
            "valid_depth_fraction": f"{verdict.valid_fraction:.3f}" if verdict else "none",
            "judge_ms_last": f"{self.judge_ms:.3f}",
            "camera_mount_from": camera_mount_from,
            **{k: str(v) for k, v in self.counts.items()},
        }
