"""navigator_node: Nav2's `navigate_to_pose` action on this stack, for nav2_simple_commander and RViz's Nav2 panel.

Serves:
  navigate_to_pose        nav2_msgs/action/NavigateToPose (Nav2's interface: BasicNavigator.goToPose()
                          and the Nav2 RViz panel drive this stack unchanged)
Publishes:
  goal_pose               geometry_msgs/PoseStamped, the goal as RViz's "2D Goal Pose" would send it
Subscribes:
  odom, planner_status, controller_status, /diagnostics   (what `core.goal_tracker` judges from;
                          with robot_pose_source tf, TF global_frame -> base_frame instead of odom)

A goal is published on `goal_pose` for the planner, then followed with the same
`core.goal_tracker.GoalTracker` as `rvn goto`, feedback at `update_rate_hz`, until it succeeds, is
aborted (refused, no path, timeout, preempted) or canceled (the robot stops where it is): the steps
are `ros.action_goal.ActionGoal`'s. A goal may be in any frame TF connects to the planner's
`global_frame` (`map` on a localised robot): the planner places it, and the robot's progress is
judged in the goal's frame.

Everything is in `NavigatorNode`, parameterized by the action type and a message adapter
(ros/nav2_action.py), so it is tested where nav2_msgs is not installed; `main` imports nav2_msgs
and, without it, logs one error and exits 1. This node adds no algorithm.
"""

from __future__ import annotations

import time
from typing import Any

from rclpy.action.server import ActionServer, CancelResponse, GoalResponse, ServerGoalHandle
from rclpy.task import Future

from robot_vision_nav.core.config import ConfigError
from robot_vision_nav.core.goal_tracker import GoalState, GoalTrackerConfig
from robot_vision_nav.nodes.navigator_params import NavigatorNodeConfig
from robot_vision_nav.ros.action_goal import ActionGoal
from robot_vision_nav.ros.entry import run_node
from robot_vision_nav.ros.goto import StackWatcher
from robot_vision_nav.ros.lifecycle import ManagedNode
from robot_vision_nav.ros.nav2_action import GoalAdapter, Nav2Adapter, import_navigate_to_pose, navigate_to_pose_or_none
from robot_vision_nav.ros.robot_pose import READ_AT_CONFIGURE
from robot_vision_nav.ros.timers import PeriodicTimer

NODE_NAME = "navigator_node"
ACTION_NAME = "navigate_to_pose"


# Any in this module: the action type is chosen at run time (nav2_msgs is optional), so its goal,
# feedback, result and handles have no static type.
class NavigatorNode(ManagedNode):
    """The navigate_to_pose action server over the planner and controller topics, a managed node.

    Lifecycle (ros/lifecycle.py; the services `ros2 lifecycle` and Nav2's lifecycle_manager call):
    configure makes the goal publisher and the status subscriptions, activate serves the action,
    deactivate ends a running goal (aborted) and sends a stop goal at the robot's pose, cleanup
    removes what configure made. With `autostart` (default) the node configures and activates
    itself, so `BasicNavigator.waitUntilNav2Active(navigator='navigator_node',
    localizer='robot_localization')` finds it active.

    Args:
        action_type: the action type to serve; None: nav2_msgs.action.NavigateToPose.
        adapter: converts the action's messages; None: `Nav2Adapter`.
        **node_kwargs: passed to rclpy's Node (context, cli_args, ...).

    Raises:
        ImportError: action_type is None and nav2_msgs is not installed.
        ParameterError: a start-up parameter out of range.

    """

    def __init__(self, action_type: Any = None, adapter: GoalAdapter | None = None, **node_kwargs: Any) -> None:
        if action_type is None:
            action_type = import_navigate_to_pose()
        super().__init__(NODE_NAME, **node_kwargs)
        self.action_type = action_type
        self.adapter: GoalAdapter = adapter if adapter is not None else Nav2Adapter()
        self._params = self.declare_config(
            [GoalTrackerConfig, NavigatorNodeConfig],
            self._on_config,
            check=self._check,
            read_at_configure=READ_AT_CONFIGURE,
        )
        self._goal: ActionGoal | None = None
        self._server: ActionServer[Any, Any, Any] | None = None  # nav2_msgs is optional: no static types
        self.start(self._params.get(NavigatorNodeConfig).autostart)

    # ------------------------------------------------------------------ lifecycle
    def configure(self) -> None:
        """The goal publisher, the status subscriptions and the update timer (it runs while active)."""
        self.tracker_config: GoalTrackerConfig = self._params.get(GoalTrackerConfig)
        self.node_config: NavigatorNodeConfig = self._params.get(NavigatorNodeConfig)
        cfg = self.node_config
        self.watcher = StackWatcher(self, (cfg.global_frame, cfg.base_frame) if cfg.robot_pose_source == "tf" else None)
        self._timer = PeriodicTimer(self, 1.0 / self.node_config.update_rate_hz, self._tick)

    def activate(self) -> None:
        """Serve navigate_to_pose."""
        self._server = ActionServer(
            self,
            self.action_type,
            ACTION_NAME,
            execute_callback=self._execute,
            goal_callback=self._on_goal_request,
            handle_accepted_callback=self._on_accepted,
            cancel_callback=self._on_cancel,
        )
        self.get_logger().info(
            f"serving {self.resolve_topic_name(ACTION_NAME)} ({self.action_type.__module__}."
            f"{self.action_type.__name__}); goals go to {self.watcher.topics['goal_pose']}"
        )

    def deactivate(self) -> None:
        """End a running goal (the robot stops where it is) and stop serving."""
        goal = self._goal
        if goal is not None:
            self._end(goal, GoalState.FAILED, "navigator_node deactivated")
            self.watcher.send_stop(goal.target.frame)  # a plan to the old goal must not go on alone
        if self._server is not None:
            self._server.destroy()
            self._server = None

    def cleanup(self) -> None:
        """Drop the status subscriptions' TF listener (the entities go with the lifecycle)."""
        self.watcher.close()

    def _check(self, cls: type[Any], config: Any) -> None:  # Any: ros/params.ConfigCallback, one class per call
        if cls is NavigatorNodeConfig:
            old = self.node_config
            moved = (config.global_frame, config.base_frame) != (old.global_frame, old.base_frame)
            if config.robot_pose_source == "tf" and moved:
                raise ConfigError(
                    "parameters 'global_frame' and 'base_frame' are read at configure with robot_pose_source tf: "
                    "clean the node up, set them, then configure and activate"
                )

    def _on_config(self, cls: type[Any], config: Any) -> None:  # Any: ros/params.ConfigCallback, one class per call
        if cls is GoalTrackerConfig:
            self.tracker_config = config  # used from the next goal on
            return
        self.node_config = config
        self._timer.set_period(1.0 / config.update_rate_hz)

    # ------------------------------------------------------------------ action callbacks
    def _on_goal_request(self, goal: Any) -> GoalResponse:
        try:
            target = self.adapter.target(goal)
        except ValueError as err:
            self.get_logger().warning(f"goal rejected: {err}")
            return GoalResponse.REJECT
        self.get_logger().info(f"goal ({target.x_m:.2f}, {target.y_m:.2f}) in '{target.frame}' accepted")
        return GoalResponse.ACCEPT

    def _on_accepted(self, handle: ServerGoalHandle[Any, Any, Any]) -> None:
        if self._goal is not None:
            self._end(self._goal, GoalState.FAILED, "preempted by a newer goal")
        handle.execute()

    def _on_cancel(self, handle: ServerGoalHandle[Any, Any, Any]) -> CancelResponse:
        return CancelResponse.ACCEPT  # acted on by the next tick, which stops the robot first

    async def _execute(self, handle: ServerGoalHandle[Any, Any, Any]) -> Any:
        goal = ActionGoal(
            handle=handle,
            target=self.adapter.target(handle.request),
            done=Future(),
            wait_until=time.monotonic() + self.node_config.wait_s,
        )
        self._goal = goal
        self._tick()  # publish at once when the stack is there
        await goal.done
        outcome = goal.outcome(self.watcher.now_ns())
        goal.settle(outcome)
        log = self.get_logger().info if outcome.state == GoalState.SUCCEEDED else self.get_logger().warning
        log(f"goal ({goal.target.x_m:.2f}, {goal.target.y_m:.2f}) {outcome.state}: {outcome.reason}")
        return self.adapter.result(self.action_type, outcome)

    # ------------------------------------------------------------------ following
    def _tick(self) -> None:
        goal = self._goal
        if goal is None:
            return
        if goal.tracker is None:  # not sent yet: sent once the stack is up
            use_sim_time = bool(self.get_parameter("use_sim_time").value)
            end = goal.try_send(self.watcher, use_sim_time, self.tracker_config, self.node_config.wait_s)
            if end is not None:
                self._end(goal, *end)
        elif not goal.follow(self.watcher, self.adapter, self.action_type, self.watcher.now_ns()):
            self._finish(goal)

    def _end(self, goal: ActionGoal, state: GoalState, reason: str) -> None:
        goal.end(state, reason, self.watcher.now_ns())
        self._finish(goal)

    def _finish(self, goal: ActionGoal) -> None:
        if self._goal is goal:
            self._goal = None
        if self.watcher.tracker is goal.tracker:
            self.watcher.tracker = None
        if not goal.done.done():
            goal.done.set_result(None)


def main(args: list[str] | None = None) -> int:
    """Run navigator_node until shutdown; without nav2_msgs, one error line and exit 1."""
    action_type = navigate_to_pose_or_none(NODE_NAME)
    if action_type is None:
        return 1
    return run_node(lambda: NavigatorNode(action_type=action_type), NODE_NAME, args)


if __name__ == "__main__":
    raise SystemExit(main())
