"""The notebooks under notebooks/ run top to bottom (nbclient) and are committed without outputs.

Each run starts a real kernel of this interpreter (the venv's ipykernel) through a `python3`
kernelspec written into a temporary JUPYTER_PATH, so a `python3` kernel of another Python on this
machine (in ~/.local/share/jupyter, say) can never be the one that runs. Connection files and
IPython's profile also go to the temporary folder: nothing is written under $HOME.
"""

from __future__ import annotations

import base64
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
INSPECT_FRAME = NOTEBOOKS / "inspect_frame.ipynb"
PANELS = ["image", "mask", "overlay", "costmap"]
KERNEL_ENV = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "MUJOCO_GL": "egl"}
# Prepended to the executed copy only: which interpreter and environment the kernel really got.
PROBE = 'import json, os, sys\nprint("probe:", json.dumps({"executable": sys.executable, "env": dict(os.environ)}))'


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The name of a kernelspec that starts `sys.executable -m ipykernel_launcher` with KERNEL_ENV."""
    jupyter = tmp_path / "jupyter"
    spec_dir = jupyter / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (robot_vision_nav test)",
        "language": "python",
        "env": KERNEL_ENV,
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter))  # searched before the user's and the venv's folders
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    return "python3"


def execute(
    path: Path, kernel: str, cwd: Path, parameters: dict[str, Any] | None = None, cells: int | None = None
) -> nbformat.NotebookNode:
    """Run a copy of the notebook in `cwd` and return it with its outputs; raises on any cell error.

    The copy keeps the first `cells` cells (default all), gets `parameters` in a cell after the
    parameters cell (as papermill injects them) and the kernel probe in front.
    """
    nb = nbformat.read(path, as_version=4)
    if cells is not None:
        nb.cells = nb.cells[:cells]
    if parameters:
        at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
        source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]}))
    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    NotebookClient(nb, timeout=300, kernel_name=kernel, resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def printed(nb: nbformat.NotebookNode, prefix: str) -> Any:
    """The JSON a cell printed after `prefix` (one line), parsed."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines() if output.get("name") == "stdout" else []:
                if line.startswith(prefix):
                    return json.loads(line[len(prefix) :])
    raise AssertionError(f"no cell printed a line starting with {prefix!r}")


def check_kernel(nb: nbformat.NotebookNode) -> None:
    probe = printed(nb, "probe: ")
    assert Path(probe["executable"]).resolve() == Path(sys.executable).resolve()
    for name, value in KERNEL_ENV.items():
        assert probe["env"].get(name) == value, name


def final_picture(nb: nbformat.NotebookNode) -> Any:
    """The image/png the last code cell displays, decoded to RGB."""
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    pngs = [o["data"]["image/png"] for o in last.outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 1, f"the last cell shows {len(pngs)} PNG pictures, expected 1"
    bgr = cv2.imdecode(np.frombuffer(base64.b64decode(pngs[0]), np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None, "the displayed image/png does not decode"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def check_picture(picture: Any, layout: dict[str, Any]) -> None:
    """Four captioned panels side by side, in order, each with content, on white."""
    assert layout["panels"] == PANELS
    assert list(picture.shape[:2]) == layout["size_hw"]
    boxes = layout["boxes"]
    assert len(boxes) == len(PANELS)
    tops, bottoms = {b[1] for b in boxes}, {b[3] for b in boxes}
    assert len(tops) == 1 and len(bottoms) == 1, "panels of different heights or not in one row"
    for (x0, y0, x1, y1), name in zip(boxes, PANELS, strict=True):
        assert 0 <= x0 < x1 <= picture.shape[1] and 0 <= y0 < y1 <= picture.shape[0]
        assert (x1 - x0) >= 0.5 * (y1 - y0), f"{name} panel is a sliver"
        assert picture[y0:y1, x0:x1].std() > 10, f"{name} panel is blank"
    for left, right in itertools.pairwise(boxes):
        assert left[2] < right[0], "panels overlap or are not left to right"
        assert (picture[left[1] : left[3], left[2] : right[0]] == 255).all(), "the gap between panels is not white"
    assert picture.shape[1] > 3 * picture.shape[0], "the panels are not side by side"


def test_inspect_frame_shows_image_mask_overlay_and_costmap_of_a_bag_frame(kernel: str) -> None:
    nb = execute(INSPECT_FRAME, kernel, cwd=NOTEBOOKS)  # as Jupyter starts it: in notebooks/
    check_kernel(nb)
    summary = printed(nb, "summary: ")
    assert summary["source"] == "bag"
    assert summary["image_hw"] == [120, 160]  # sim_compressed's 160x120 frames
    assert 0.2 <= summary["drivable_fraction"] <= 0.95
    assert summary["lethal_cells"] > 0
    assert summary["classes"]["floor"] > 0
    assert sum(summary["cells"].values()) == 200 * 200  # the default 10 m window at 0.05 m
    assert summary["cells"]["free"] > 0 and summary["pixels"]["valid"] == 120 * 160
    check_picture(final_picture(nb), printed(nb, "layout: "))


def test_inspect_frame_renders_a_simulator_frame_when_asked(kernel: str) -> None:
    nb = execute(INSPECT_FRAME, kernel, cwd=NOTEBOOKS, parameters={"SOURCE": "sim", "SIM_SEED": 1})
    summary = printed(nb, "summary: ")
    assert summary["source"] == "sim"
    assert summary["image_hw"] == [240, 320]  # config/sim.yaml's camera
    assert 0.2 <= summary["drivable_fraction"] <= 0.95
    assert summary["lethal_cells"] > 0
    check_picture(final_picture(nb), printed(nb, "layout: "))


def test_inspect_frame_finds_the_repo_from_a_folder_outside_it(kernel: str, tmp_path: Path) -> None:
    # Only the parameters and the set-up cell: walking up from tmp_path finds nothing, so the
    # notebook falls back to the checkout the package is imported from.
    nb = execute(INSPECT_FRAME, kernel, cwd=tmp_path, cells=3)
    repo_lines = [line for c in nb.cells for o in c.get("outputs", []) for line in o.get("text", "").splitlines()
                  if line.startswith("repo: ")]  # fmt: skip
    assert repo_lines == [f"repo: {REPO}"]


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_committed_notebooks_have_no_outputs_and_a_python3_kernel(path: Path) -> None:
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    for i, cell in enumerate(code):
        assert cell.outputs == [], f"code cell {i} has stored outputs; clear them before committing"
        assert cell.execution_count is None, f"code cell {i} has an execution count; clear outputs before committing"
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1, "expected one parameters cell"
    assert path.stat().st_size < 64_000, "notebook over 64 kB: outputs or attachments stored?"
