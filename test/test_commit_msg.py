"""scripts/check_commit_msg.py: the commit-msg hook and the CI check of commit subjects."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_commit_msg.py"
_spec = importlib.util.spec_from_file_location("check_commit_msg", SCRIPT)
assert _spec is not None and _spec.loader is not None
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)

GOOD = "Costmap clears cells the camera sees through\n\nThe why, in as many lines as it takes.\n"


def test_a_short_subject_a_blank_line_and_a_body_pass() -> None:
    assert check.problems(GOOD) == []
    assert check.problems("Subject only\n") == []
    assert check.problems("x" * 72) == []
    # git's template comments are not part of the message
    assert check.problems("Subject\n\n# Please enter the commit message\n# " + "y" * 100 + "\n") == []


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("x" * 73 + "\n\nbody", "73 characters, more than 72"),
        ("Fix the planner.\n", "full stop"),
        ("Subject\nbody right under it\n", "second line is not blank"),
        ("\n\nbody\n", "subject (first line) is empty"),
        ("# only a comment\n", "subject (first line) is empty"),
    ],
)
def test_each_problem_is_named(message: str, words: str) -> None:
    found = check.problems(message)
    assert any(words in p for p in found), found


def test_the_hook_exits_1_on_a_bad_message_file_and_0_on_a_good_one(tmp_path: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_text(GOOD)
    bad.write_text("y" * 80 + "\n")
    assert subprocess.run([sys.executable, str(SCRIPT), str(good)]).returncode == 0
    run = subprocess.run([sys.executable, str(SCRIPT), str(bad)], capture_output=True, text=True)
    assert run.returncode == 1 and "80 characters" in run.stderr
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "missing")], capture_output=True, text=True)
    assert run.returncode == 2 and "cannot read" in run.stderr


def test_since_checks_every_commit_after_the_given_one(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}  # fmt: skip
        return subprocess.run(["git", *args], cwd=tmp_path, env=env, check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    git("commit", "-q", "--allow-empty", "-m", "z" * 100)  # before the rule: not checked
    base = git("rev-parse", "HEAD").strip()
    git("commit", "-q", "--allow-empty", "-m", "Good subject\n\nbody")
    run = subprocess.run([sys.executable, str(SCRIPT), "--since", base], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    git("commit", "-q", "--allow-empty", "-m", "Bad subject that ends with a full stop.")
    bad = git("rev-parse", "HEAD").strip()[:10]
    run = subprocess.run([sys.executable, str(SCRIPT), "--since", base], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 1 and f"{bad}: the subject ends with a full stop" in run.stderr
    run = subprocess.run([sys.executable, str(SCRIPT), "--since", "nope"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 2 and "nope..HEAD" in run.stderr
