"""A warehouse world written out as MJCF for MuJoCo, with the robot and its RGB-D camera.

Every geom is named `<class>:<n>` with its warehouse class (the simulator builds its segmentation
table from the names); people and the robot are mocap bodies the simulator moves; contacts are
off. The text is a pure function of the world and the camera and robot configs: the same world
gives the same XML, byte for byte. This module must never import ROS or MuJoCo (the MJCF is plain
text; `sim.sim` compiles it).
"""

from __future__ import annotations

from robot_vision_nav.sim.camera import CameraConfig, fovy_deg, mujoco_camera_axes
from robot_vision_nav.sim.robot import RobotConfig
from robot_vision_nav.sim.world_types import World

OWN_BODY_GROUP = 2  # geom group of the robot's own body: hidden from its own camera, seen in the top view
TOP_VIEW_MAX_PX = 800  # longest side of the top-view picture; the offscreen buffer is made to fit it
ROBOT_BODY = "robot"
CAMERA_NAME = "rgbd"
TOP_CAMERA_NAME = "top"
VIEW_EXTENT_M = 10.0  # MuJoCo's statistic/extent: near and far planes are given relative to it
ZNEAR_M = 0.02
ZFAR_M = 100.0


def _f(*values: float) -> str:
    return " ".join(format(float(v), ".10g") for v in values)


def top_view_size(world: World) -> tuple[int, int, float]:
    """(width_px, height_px, metres per pixel) of the top view: floor and walls, longest side TOP_VIEW_MAX_PX."""
    span_x, span_y = world.length_m + 0.6, world.width_m + 0.6
    m_per_px = max(span_x, span_y) / TOP_VIEW_MAX_PX
    return round(span_x / m_per_px), round(span_y / m_per_px), m_per_px


def world_xml(world: World, camera: CameraConfig | None = None, robot: RobotConfig | None = None) -> str:
    """The MJCF of the world with the robot (a mocap body carrying the RGB-D camera) at its start pose.

    Every geom is named `<class>:<n>` with its warehouse class, which is how the segmentation
    table is built; people and the robot are mocap bodies the simulator moves. Contacts are off:
    the simulator is kinematic and scores collisions on the 2-D footprints.
    """
    camera = CameraConfig() if camera is None else camera
    robot = RobotConfig() if robot is None else robot
    top_w, top_h, m_per_px = top_view_size(world)
    counter: dict[str, int] = {}

    def name(label: str) -> str:
        counter[label] = counter.get(label, 0) + 1
        return f"{label}:{counter[label] - 1}"

    lines = [
        f'<mujoco model="warehouse_{world.seed}">',
        '  <compiler angle="radian"/>',
        '  <option timestep="0.01"><flag contact="disable" gravity="disable"/></option>',
        f'  <statistic extent="{_f(VIEW_EXTENT_M)}" center="0 0 1"/>',
        "  <visual>",
        f'    <global offwidth="{max(camera.width_px, top_w)}" offheight="{max(camera.height_px, top_h)}"/>',
        '    <quality shadowsize="0" offsamples="0"/>',
        f'    <map znear="{_f(ZNEAR_M / VIEW_EXTENT_M)}" zfar="{_f(ZFAR_M / VIEW_EXTENT_M)}"/>',
        f'    <headlight ambient="{_f(*[world.headlight[0]] * 3)}" diffuse="{_f(*[world.headlight[1]] * 3)}" '
        'specular="0 0 0"/>',
        "  </visual>",
        '  <default><geom contype="0" conaffinity="0"/></default>',
        "  <asset>",
    ]
    for t in world.textures:
        lines.append(f'    <texture name="{t.name}" type="2d" builtin="flat" width="{t.size_px}" '
                     f'height="{t.size_px}" rgb1="0.5 0.5 0.5"/>')  # fmt: skip
        shiny = ' specular="0.3" shininess="0.3"' if t.name == "floor" else ' specular="0.1" shininess="0.1"'
        lines.append(f'    <material name="{t.name}" texture="{t.name}" texuniform="true" '
                     f'texrepeat="{_f(1.0 / t.tile_m, 1.0 / t.tile_m)}"{shiny}/>')  # fmt: skip
    lines += ["  </asset>", "  <worldbody>"]
    for light in world.lights:
        lines.append(f'    <light directional="true" castshadow="false" pos="0 0 {_f(world.height_m)}" '
                     f'dir="{_f(*light.direction)}" diffuse="{_f(*light.diffuse)}" '
                     f'specular="{_f(*[light.specular] * 3)}"/>')  # fmt: skip
    half = (world.length_m / 2 + 0.3, world.width_m / 2 + 0.3)
    lines.append(f'    <geom name="{name("floor")}" type="plane" size="{_f(*half, 1.0)}" material="floor"/>')
    for p in world.parts:
        look = f'material="{p.material}"' if p.material else f'rgba="{_f(*p.rgba)}"'
        group = f' group="{p.group}"' if p.group else ""
        lines.append(f'    <geom name="{name(p.label)}" type="{p.shape}" pos="{_f(p.x_m, p.y_m, p.z_m)}" '
                     f'size="{_f(*p.size)}" euler="0 0 {_f(p.yaw_rad)}" {look}{group}/>')  # fmt: skip
    for i, m in enumerate(world.movers):
        x, y, yaw = m.pose_at(0.0)
        body_h = m.height_m - 0.25
        capsule = _f(m.radius_m, (body_h - 2 * m.radius_m) / 2)
        lines += [
            f'    <body name="person_{i}" mocap="true" pos="{_f(x, y, 0.0)}" euler="0 0 {_f(yaw)}">',
            f'      <geom name="{name("person")}" type="capsule" size="{capsule}" '
            f'pos="0 0 {_f(body_h / 2)}" rgba="{_f(*m.rgba)}"/>',
            f'      <geom name="{name("person")}" type="sphere" size="0.11" pos="0 0 {_f(m.height_m - 0.12)}" '
            'rgba="0.85 0.68 0.55 1"/>',
            "    </body>",
        ]
    s = world.start
    mount = camera.mount
    axes = mujoco_camera_axes(mount)
    mast_half_m = max(mount.z_m - robot.body_height_m, 0.02) / 2
    lines += [
        f'    <body name="{ROBOT_BODY}" mocap="true" pos="{_f(s.x_m, s.y_m, 0.0)}" euler="0 0 {_f(s.yaw_rad)}">',
        f'      <geom name="{name("robot")}" type="cylinder" size="{_f(robot.radius_m, robot.body_height_m / 2)}" '
        f'pos="0 0 {_f(robot.body_height_m / 2)}" rgba="0.1 0.75 0.65 1" group="{OWN_BODY_GROUP}"/>',
        f'      <geom name="{name("robot")}" type="box" size="0.03 0.06 {_f(mast_half_m)}" '
        f'pos="{_f(mount.x_m - 0.06, mount.y_m, (mount.z_m + robot.body_height_m) / 2)}" rgba="0.2 0.2 0.2 1" '
        f'group="{OWN_BODY_GROUP}"/>',
        f'      <camera name="{CAMERA_NAME}" pos="{_f(mount.x_m, mount.y_m, mount.z_m)}" xyaxes="{_f(*axes)}" '
        f'fovy="{_f(fovy_deg(camera))}"/>',
        "    </body>",
        f'    <camera name="{TOP_CAMERA_NAME}" projection="orthographic" pos="0 0 {_f(world.height_m + 10.0)}" '
        f'xyaxes="1 0 0 0 1 0" fovy="{_f(top_h * m_per_px)}"/>',
        "  </worldbody>",
        "</mujoco>",
    ]
    return "\n".join(lines) + "\n"
