"""bench/sim: simulator frames per second, RGB + depth + labels, in lock-step.

One lock-step frame = the sim steps of one camera period (`camera_every_steps`, 7 at 100 Hz steps
and 15 Hz camera) plus the camera render: colour, depth in metres with range limits, and warehouse
class ids. The issue's target is >= 100 frames/s at 320x240 on the 2-core dev machine. Timed for
`Simulator` and, in the same run, for two peers on the same generated world (seed `WORLD_SEED`):

- "mujoco.Renderer": the stock `mujoco.Renderer` as its documentation shows it, three renders per
  frame (colour, depth, segmentation) and the geom -> class table applied to its (object id, type)
  output. It draws the same model with the same options, so its frames are checked against ours:
  `labels_agree` (fraction of equal labels) and `depth_max_diff_m`.
- "synthetic": the repository's analytic numpy ray caster (`sim.synthetic`, what the demo and the
  costmap tests use) on the world's boxes as axis-aligned boxes; it returns colour, depth and a
  drivable mask rather than labels. A reference point for "why not just ray-cast in numpy".

Run: `python -m bench.sim [--json] [--quick]` (or `rvn bench sim`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from bench.common import machine, print_table, row, time_call
from robot_vision_nav.core.geometry import PinholeIntrinsics, Pose2D
from robot_vision_nav.sim.camera import CameraConfig, ensure_gl_backend
from robot_vision_nav.sim.sim import Simulator
from robot_vision_nav.sim.synthetic import Box, FloorPatch, Scene, render
from robot_vision_nav.sim.world import generate_world
from robot_vision_nav.sim.world_types import World

NAME = "sim"
WORLD_SEED = 3
SIZES = ((320, 240), (640, 480))
TARGET_FPS = 100.0  # at 320x240
REPEATS = {320: 60, 640: 30}
QUICK_REPEATS = 3


class StockRendererPeer:
    """Three `mujoco.Renderer` passes per frame plus the class table, on the simulator's own model."""

    def __init__(self, sim: Simulator) -> None:
        ensure_gl_backend()
        import mujoco

        self._mj = mujoco
        self.sim = sim
        cfg = sim.camera_config
        self.renderer = mujoco.Renderer(sim.model, cfg.height_px, cfg.width_px)
        self.option = sim.renderer.option  # the same visible groups as ours
        self.camera = mujoco.mj_name2id(sim.model, mujoco.mjtObj.mjOBJ_CAMERA, "rgbd")

    def frame(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        sim, r, mj = self.sim, self.renderer, self._mj
        for _ in range(sim.config.camera_every_steps):
            sim.step()
        sim._sync()  # the mocap bodies and kinematics, as the simulator does before drawing
        r.update_scene(sim.data, self.camera, self.option)
        r.disable_depth_rendering()
        r.disable_segmentation_rendering()
        rgb = r.render()
        r.enable_depth_rendering()
        depth = r.render()
        r.enable_segmentation_rendering()
        seg = r.render()
        cfg = sim.camera_config
        depth[(depth < cfg.min_depth_m) | (depth > cfg.max_depth_m)] = 0.0
        objid, objtype = seg[..., 0], seg[..., 1]
        is_geom = (objtype == int(mj.mjtObj.mjOBJ_GEOM)) & (objid >= 0)
        labels = np.where(is_geom, sim.geom_class[np.clip(objid, 0, None)], 255).astype(np.uint8)
        return rgb, depth, labels

    def close(self) -> None:
        self.renderer.close()


def synthetic_scene(world: World) -> Scene:
    """The world's box-shaped parts as axis-aligned boxes (bounding a rotated one), zones as keep-out patches."""
    boxes = []
    for p in world.parts:
        if p.shape != "box" or p.label in ("marking", "keep_out", "other") or p.size[2] < 0.01:
            continue
        c, s = abs(np.cos(p.yaw_rad)), abs(np.sin(p.yaw_rad))
        hx, hy = c * p.size[0] + s * p.size[1], s * p.size[0] + c * p.size[1]
        rgb = tuple(int(255 * v) for v in p.rgba[:3])
        boxes.append(Box(p.x_m, p.y_m, 2 * hx, 2 * hy, p.z_m + p.size[2], rgb, p.z_m - p.size[2]))  # type: ignore[arg-type]
    patches = []
    for z in world.zones:
        a = z.area
        patches.append(FloorPatch(a.x_m - a.half_x_m, a.y_m - a.half_y_m, a.x_m + a.half_x_m, a.y_m + a.half_y_m))
    return Scene(tuple(boxes), tuple(patches))


def run(quick: bool = False) -> dict[str, Any]:
    """Time ours and the peers per image size; return the bench JSON object."""
    world = generate_world(WORLD_SEED)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for width, height in SIZES[:1] if quick else SIZES:
        repeats = QUICK_REPEATS if quick else REPEATS[width]
        warmup = 1 if quick else 5
        case = f"frame {width}x{height} rgb+depth+labels"
        camera = CameraConfig(width_px=width, height_px=height)
        target = {"target_fps": TARGET_FPS} if width == 320 else {}
        with Simulator(world, camera=camera) as sim:
            sim.command(0.4, 0.25)

            def ours(sim: Simulator = sim) -> None:
                for _ in range(sim.config.camera_every_steps):
                    sim.command(0.4, 0.25)
                    sim.step()
                sim.render()

            ours_ms = time_call(ours, repeats, warmup)
            ours_fps = 1000.0 / float(np.median(ours_ms))
            extra = {"ours_fps": round(ours_fps, 1), **target}
            if target:
                extra["meets_target"] = ours_fps >= TARGET_FPS

            peer = StockRendererPeer(sim)
            try:
                peer_ms = time_call(peer.frame, repeats, warmup)
                # Same instant for both: compare one frame pair.
                rgb_p, depth_p, labels_p = peer.frame()
                frame = sim.render()
            finally:
                peer.close()
            both = (frame.depth_m > 0) & (depth_p > 0)
            rows.append(row(
                case, ours_ms, "mujoco.Renderer", peer_ms, **extra,
                labels_agree=round(float(np.mean(frame.labels == labels_p)), 5),
                rgb_identical=bool(np.array_equal(frame.rgb, rgb_p)),
                depth_max_diff_m=round(float(np.max(np.abs(frame.depth_m[both] - depth_p[both]))), 6),
            ))  # fmt: skip

            if width == 320:
                scene = synthetic_scene(world)

                def theirs(
                    scene: Scene = scene, k: PinholeIntrinsics = sim.intrinsics, camera: CameraConfig = camera,
                    pose: Pose2D = sim.pose,
                ) -> None:  # fmt: skip
                    render(scene, k, camera.mount, pose, camera.max_depth_m)

                syn_ms = time_call(theirs, max(2, repeats // 10), 1)
                rows.append(row(case, ours_ms, "synthetic", syn_ms, **extra, peer_boxes=len(scene.boxes)))
    if any(r.get("meets_target") is False for r in rows):
        notes.append(f"below the {TARGET_FPS:g} frames/s target at 320x240 on this machine (was it idle?)")
    return {"bench": NAME, "machine": machine(), "rows": rows, "notes": notes}


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.sim [--json] [--quick]`; exit 1 if the stock renderer's frames disagree with ours."""
    parser = argparse.ArgumentParser(prog="bench.sim", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--quick", action="store_true", help="3 repeats, 320x240 only (a smoke test)")
    args = parser.parse_args(argv)
    result = run(quick=args.quick)
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
        for r in result["rows"]:
            print(f"{r['case']} vs {r['peer']}: ours {r['ours_fps']:.0f} frames/s")
    sys.stdout.flush()
    bad = [r for r in result["rows"] if r["peer"] == "mujoco.Renderer" and r["labels_agree"] < 0.999]
    for r in bad:
        print(f"{r['case']}: labels agree on only {r['labels_agree']:.2%} of pixels", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
