"""The package's import graph: bring-up knows nothing of replay/, and ros/ and replay/ form no cycle.

Every import counts, those inside functions (and under TYPE_CHECKING) too: a cycle hidden by a
function-level import is still a cycle, it only fails later. The scan is test_core_is_ros_free's.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

from test.test_core_is_ros_free import imported_modules, module_name

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "robot_vision_nav"
# What launch files and `rvn run` plan the stack with: replay planning builds on it, not the reverse.
BRINGUP = ("robot_vision_nav.ros.bringup", "robot_vision_nav.ros.launch_files")
LAYERED = ("robot_vision_nav.ros", "robot_vision_nav.replay")  # no cycle may run through these

Graph = dict[str, dict[str, int]]  # module -> {module it imports: first line}


def in_package(module: str, package: str) -> bool:
    """Whether `module` is `package` or below it."""
    return module == package or module.startswith(package + ".")


def import_graph(root: Path = REPO, package: str = PACKAGE) -> Graph:
    """Each module of `package` under `root` and the package modules it imports, wherever the import stands."""
    modules = {module_name(path, root): path for path in sorted((root / package).rglob("*.py"))}
    graph: Graph = {name: {} for name in modules}
    for name, path in modules.items():
        for line, imported in imported_modules(path, root):
            # `from a.b import c` names a.b and a.b.c: the longest one that is a module counts.
            parts = imported.split(".")
            while parts and ".".join(parts) not in modules:
                parts.pop()
            target = ".".join(parts)
            if target and target != name:
                graph[name].setdefault(target, line)
    return graph


def import_chain(graph: Graph, start: str, avoid: str) -> list[str]:
    """The shortest chain of imports from `start` into `avoid` (a package), each step `module:line`; [] if none."""
    came_from: dict[str, tuple[str, int] | None] = {start: None}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        if in_package(module, avoid):
            chain: list[str] = []
            step = came_from[module]
            while step is not None:
                chain.append(f"{step[0]}:{step[1]} -> {module}")
                module = step[0]
                step = came_from[module]
            return chain[::-1]
        for target, line in graph.get(module, {}).items():
            if target not in came_from:
                came_from[target] = (module, line)
                queue.append(target)
    return []


def import_cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph.get(target, {}))))
                elif target in on_stack:
                    low[module] = min(low[module], index[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == index[module]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def describe(graph: Graph, cycle: list[str]) -> str:
    """The imports that close a cycle, one `module:line -> module` each."""
    members = set(cycle)
    edges = [f"  {m}:{line} -> {t}" for m in cycle for t, line in graph[m].items() if t in members]
    return "\n".join(edges)


def test_bringup_imports_nothing_from_replay() -> None:
    graph = import_graph()
    for module in BRINGUP:
        assert module in graph, f"{module} not found under {REPO / PACKAGE}"
        chain = import_chain(graph, module, f"{PACKAGE}.replay")
        assert not chain, f"{module} reaches replay/ (bring-up must not depend on it):\n" + "\n".join(chain)


def test_no_import_cycle_runs_through_ros_or_replay() -> None:
    graph = import_graph()
    cycles = [c for c in import_cycles(graph) if any(in_package(m, p) for m in c for p in LAYERED)]
    assert not cycles, "import cycles:\n" + "\n\n".join(describe(graph, c) for c in cycles)


def test_the_checks_see_imports_inside_functions(tmp_path: Path) -> None:
    package = tmp_path / PACKAGE
    for folder in ("ros", "replay"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "ros" / "bringup.py").write_text("from robot_vision_nav.ros import params\n")
    (package / "ros" / "params.py").write_text("def late():\n    from ..replay.topics import OUTPUTS\n")
    (package / "replay" / "topics.py").write_text(
        "import os\ndef later():\n    import robot_vision_nav.ros.bringup as b\n    return b\n"
    )
    graph = import_graph(tmp_path)
    assert graph["robot_vision_nav.ros.params"] == {"robot_vision_nav.replay.topics": 2}
    assert import_chain(graph, "robot_vision_nav.ros.bringup", "robot_vision_nav.replay") == [
        "robot_vision_nav.ros.bringup:1 -> robot_vision_nav.ros.params",
        "robot_vision_nav.ros.params:2 -> robot_vision_nav.replay.topics",
    ]
    assert import_cycles(graph) == [
        ["robot_vision_nav.replay.topics", "robot_vision_nav.ros.bringup", "robot_vision_nav.ros.params"]
    ]
    (package / "replay" / "topics.py").write_text("import os\n")
    assert import_cycles(import_graph(tmp_path)) == []


# Numerical libraries: a node that imports one computes something itself, and that belongs in core/
# (where it is unit-tested without rclpy). numpy.typing is an annotation, not a computation.
NUMERICAL = ("numpy", "scipy", "cv2", "numba", "torch", "math", "statistics")


def test_nodes_hold_no_algorithm() -> None:
    """nodes/ only declares parameters, subscribes, calls its core step, converts and publishes."""
    offenders = []
    for path in sorted((REPO / PACKAGE / "nodes").glob("*.py")):
        for line, imported in imported_modules(path):
            top = imported.split(".")[0]
            if top in NUMERICAL and not in_package(imported, "numpy.typing"):
                offenders.append(f"{path.name}:{line} imports {imported}")
    assert offenders == [], "; ".join(offenders)


def test_only_the_benchmarks_own_tests_import_bench() -> None:
    """bench/ is a checkout tool: the product's tests must not lean on it (test_bench_* test it)."""
    offenders = []
    for path in sorted((REPO / "test").rglob("*.py")):
        if path.name.startswith("test_bench_"):
            continue
        offenders += [
            f"{path.name}:{line}" for line, imported in imported_modules(path) if in_package(imported, "bench")
        ]
    assert offenders == [], "; ".join(offenders)
