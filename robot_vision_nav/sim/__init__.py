"""Built-in RGB-D worlds: the analytic scenes (`synthetic`) and the MuJoCo warehouse simulator.

`synthetic_aisles` draws random aisles for the analytic renderer and labels every pixel exactly
(the synthetic training data). `world` generates warehouses (`world_types`) from a seed, with a
guaranteed route planned on their occupancy (`occupancy`); `mjcf` writes them out for MuJoCo;
`robot` is the kinematic differential-drive base; `camera` the D435-like RGB-D camera and its
renderer; `sim` steps them together and scores collisions and keep-out violations; `stepper`
paces those steps for sim_node (real time, flat out or lock-step); `view` and `dataset` are
behind `rvn sim-view` and `rvn sim-dataset`; `scenarios` makes random inflated local windows with
an oracle path for the controller tests and bench/controller. Nothing here imports ROS
(`nodes.sim_node` does).
"""
