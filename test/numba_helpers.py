"""Counting numba compilations in a fresh process (where no earlier test has compiled anything)."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

_COUNTING = """
import numba.core.dispatcher as dispatcher
compiled = []
original = dispatcher.Dispatcher._compile_for_args
def counting(self, *args, **kwargs):
    compiled.append(self.py_func.__name__)
    return original(self, *args, **kwargs)
dispatcher.Dispatcher._compile_for_args = counting
"""


def compiled_by(setup: str, workload: str) -> list[str]:
    """The numba functions `workload` compiles after `setup` ran, both Python source run in a new interpreter.

    numba compiles on the first call with new argument types; this patches the dispatcher after
    `setup` to record each such call.
    """
    code = "\n".join((textwrap.dedent(setup), _COUNTING, textwrap.dedent(workload), "print(sorted(set(compiled)))"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return list(ast.literal_eval(result.stdout.strip().splitlines()[-1]))
