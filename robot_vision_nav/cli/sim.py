"""`rvn sim-view` and `rvn sim-dataset`: look at a generated warehouse; render a synthetic dataset from it.

MuJoCo and OpenCV load inside the handlers; this module must never import ROS at module level.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robot_vision_nav.cli.common import CliError, check_out_path, int_in, yaml_assignment

if TYPE_CHECKING:
    from robot_vision_nav.cli.common import Subparsers
    from robot_vision_nav.sim.camera import CameraConfig


def _sim_camera(args: argparse.Namespace) -> CameraConfig:
    from robot_vision_nav.sim.camera import CameraConfig

    return CameraConfig(width_px=args.width, height_px=args.height, depth_noise=getattr(args, "depth_noise", False))


def _sim_view(args: argparse.Namespace) -> int:
    out = Path(args.out)
    check_out_path(out)
    from robot_vision_nav.files import encode_image, write_bytes_atomic
    from robot_vision_nav.sim.sim import Simulator
    from robot_vision_nav.sim.view import sim_view_picture
    from robot_vision_nav.sim.world import WorldError, generate_world

    try:
        world = generate_world(args.seed)
    except WorldError as err:
        raise CliError(str(err)) from err
    with Simulator(world, camera=_sim_camera(args)) as sim:
        picture = sim_view_picture(sim)
    try:
        write_bytes_atomic(out, encode_image(picture, out.suffix))
    except OSError as err:
        raise CliError(f"cannot write {str(out)!r}: {err.strerror or err}") from err
    summary = {
        "seed": world.seed, "length_m": world.length_m, "width_m": world.width_m, "zones": len(world.zones),
        "people": len(world.movers), "obstacles": len(world.obstacles), "route_m": round(world.route_length_m(), 3),
        "start": [world.start.x_m, world.start.y_m, world.start.yaw_rad], "goal": list(world.goal_xy),
        "out": str(out),
    }  # fmt: skip
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"warehouse seed {world.seed}: {world.length_m:g} x {world.width_m:g} m, {len(world.zones)} keep-out "
              f"zones, {len(world.movers)} people, route {summary['route_m']:.1f} m")  # fmt: skip
        print(f"wrote {out} ({picture.shape[1]}x{picture.shape[0]} px)")
    return 0


def _randomize_overrides(items: list[str]) -> dict[str, Any]:
    """`--set NAME=VALUE` items as RandomizeConfig keyword arguments, each name and value type checked."""
    import dataclasses

    from robot_vision_nav.sim.appearance import RandomizeConfig

    fields = {f.name: f.default for f in dataclasses.fields(RandomizeConfig)}
    out: dict[str, Any] = {}
    for item in items:
        name, value = yaml_assignment(item, "NAME=VALUE (e.g. aim_min_m=0.5)")
        if name not in fields:
            raise CliError(f"argument --set: {name!r} is not a randomisation setting; known: {', '.join(fields)}")
        whole = isinstance(fields[name], int)
        if isinstance(value, bool) or not isinstance(value, int | float) or (whole and not isinstance(value, int)):
            kind = "a whole number" if whole else "a number"
            raise CliError(f"argument --set: {name} must be {kind}, got {item.partition('=')[2]!r}")
        out[name] = value if whole else float(value)
    return out


def _sim_dataset(args: argparse.Namespace) -> int:
    from robot_vision_nav.core.config import ConfigError
    from robot_vision_nav.sim.appearance import RandomizeConfig
    from robot_vision_nav.sim.dataset import stderr_progress, write_dataset
    from robot_vision_nav.sim.world import WorldError

    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise CliError(f"argument --out: {str(out_dir)!r} exists and is not a folder")
    if args.set and not args.randomize:
        raise CliError("argument --set: the randomisation settings need --randomize")
    try:
        randomize = RandomizeConfig(**_randomize_overrides(args.set)) if args.randomize else None
    except ConfigError as err:
        raise CliError(f"argument --set: {err}") from err
    try:
        manifest = write_dataset(out_dir, args.scenes, args.frames, args.seed, _sim_camera(args), stderr_progress,
                                 randomize)  # fmt: skip
    except WorldError as err:
        raise CliError(str(err)) from err
    except OSError as err:
        raise CliError(f"cannot write into {str(out_dir)!r}: {err.strerror or err}") from err
    count = len(manifest["frames"])
    if args.json:
        print(json.dumps({"out": str(out_dir), "frames": count, "scenes": args.scenes, "seed": args.seed}))
    else:
        print(f"wrote {count} frames ({args.scenes} scenes x {args.frames}) to {out_dir}/ (manifest.json)")
    return 0


# ---------------------------------------------------------------------------------------- parsers
def register(sub: Subparsers) -> None:
    """Add `rvn sim-view` and `rvn sim-dataset` to `sub`."""

    def camera_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--width", type=int_in(16, 1280, "px"), default=320, metavar="PX",
                       help="camera image width (px, default 320; 640 for 640x480)")  # fmt: skip
        p.add_argument("--height", type=int_in(16, 960, "px"), default=240, metavar="PX",
                       help="camera image height (px, default 240; 480 for 640x480)")  # fmt: skip

    p = sub.add_parser(
        "sim-view",
        help="look at a generated warehouse: top view, camera frame, depth and labels",
        description="Generate the MuJoCo warehouse for --seed and write one picture: the floor from above with the "
        "route (green), start (blue circle), goal (green star), keep-out zones (red outlines), people's paths "
        "(magenta) and the robot, beside the robot camera's colour frame at the start, its depth (0..10 m, near "
        "bright, invalid black) and its ground-truth labels with the class legend.",
    )
    p.add_argument("--seed", type=int_in(0, 2**31 - 1, "world seed"), default=0, metavar="S",
                   help="world seed (default 0)")  # fmt: skip
    p.add_argument("--out", required=True, metavar="PNG", help="picture to write (replaced atomically)")
    camera_args(p)
    p.add_argument("--json", action="store_true",
                   help='print one JSON object {"seed", "length_m", "width_m", "zones", "people", "obstacles", '
                   '"route_m", "start": [x, y, yaw], "goal": [x, y], "out"}')  # fmt: skip
    p.set_defaults(handler=_sim_view)

    p = sub.add_parser(
        "sim-dataset",
        help="write a synthetic RGB-D segmentation dataset from the MuJoCo warehouse",
        description="Render --scenes generated warehouses x --frames camera frames each into DIR: images/NAME.png "
        "(RGB), labels/NAME.png (warehouse class ids, 255 ignore), depth/NAME.png (16-bit, millimetres, 0 invalid) "
        "and manifest.json (per frame: files, world seed, sim time, intrinsics in px, true pose in m/rad and "
        "T_world_camera). Files are written atomically, the manifest last; progress goes to stderr. The same "
        "seed writes the same bytes.",
    )
    p.add_argument("--scenes", type=int_in(1, 100000, "worlds"), required=True, metavar="N",
                   help="number of generated worlds")  # fmt: skip
    p.add_argument("--frames", type=int_in(1, 100000, "frames per world"), required=True, metavar="M",
                   help="frames per world")  # fmt: skip
    p.add_argument("--out", required=True, metavar="DIR", help="dataset folder (created if missing)")
    p.add_argument("--seed", type=int_in(0, 2**31 - 1, "dataset seed"), default=0, metavar="S",
                   help="dataset seed (default 0)")  # fmt: skip
    camera_args(p)
    p.add_argument("--depth-noise", action="store_true", help="add D435-like depth noise and dropouts (seeded)")
    p.add_argument("--randomize", action="store_true",
                   help="vary the look per world (lights, floor, zone and marking paint, colours of walls, racks, "
                   "boxes, pallets, posts and people), jitter the camera mount per frame (height +-0.10 m, pitch "
                   "+-0.10 rad, recorded in the manifest), put up to 12 posts, 8 keep-out zones and 6 people in "
                   "a world and aim 60%% of the random-place frames at one of them (seeded; off: the default "
                   "worlds)")  # fmt: skip
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="with --randomize: change one randomisation setting (recorded in the manifest), e.g. "
                   "aim_min_m=0.5 (aimed frames from 0.5 m), max_people=10, aim_share=0.8, "
                   "mount_pitch_jitter_rad=0.2, look_share=0 (every world in the default look, with the other "
                   "settings); repeatable")  # fmt: skip
    p.add_argument("--json", action="store_true", help='print one JSON object {"out", "frames", "scenes", "seed"}')
    p.set_defaults(handler=_sim_dataset)
