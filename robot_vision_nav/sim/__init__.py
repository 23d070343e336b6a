"""Built-in RGB-D worlds: the analytic scenes used by tests and the demo (the MuJoCo world comes later)."""
