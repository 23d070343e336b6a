#!/usr/bin/env python3
"""Check commit messages: a subject of at most 72 characters, then a blank line, then the why.

    scripts/check_commit_msg.py FILE           one message (git's commit-msg hook passes its file)
    scripts/check_commit_msg.py --since REV    every commit after REV up to HEAD (CI)

`make hooks` installs it as .git/hooks/commit-msg. Exit status 0 when every message passes, 1 with
one line per problem (naming the commit) otherwise, 2 on bad arguments. Standard library only: it
runs before the project's venv exists.
"""

from __future__ import annotations

import subprocess
import sys

MAX_SUBJECT = 72


def problems(message: str) -> list[str]:
    """What is wrong with one commit message (git's comment lines are ignored), [] when nothing."""
    lines = [line.rstrip() for line in message.splitlines() if not line.startswith("#")]
    while lines and not lines[-1]:
        lines.pop()
    if not lines or not lines[0].strip():
        return ["the subject (first line) is empty"]
    found = []
    subject = lines[0]
    if len(subject) > MAX_SUBJECT:
        found.append(f"the subject is {len(subject)} characters, more than {MAX_SUBJECT}: put the detail in the body")
    if subject.endswith("."):
        found.append("the subject ends with a full stop")
    if len(lines) > 1 and lines[1].strip():
        found.append("the second line is not blank: leave one between the subject and the body")
    return found


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def check_since(rev: str) -> list[str]:
    """Problems of every commit in rev..HEAD, each line naming its commit."""
    out = []
    for sha in _git("rev-list", "--reverse", f"{rev}..HEAD").split():
        for problem in problems(_git("log", "-1", "--format=%B", sha)):
            out.append(f"{sha[:10]}: {problem}")
    return out


def main(argv: list[str]) -> int:
    """Check the message file or the commit range the arguments name."""
    if len(argv) == 2 and argv[0] == "--since":
        try:
            found = check_since(argv[1])
        except subprocess.CalledProcessError as err:
            print(f"check_commit_msg: git could not list {argv[1]}..HEAD: {err.stderr.strip()}", file=sys.stderr)
            return 2
    elif len(argv) == 1 and not argv[0].startswith("-"):
        try:
            with open(argv[0], encoding="utf-8") as file:
                found = problems(file.read())
        except OSError as err:
            print(f"check_commit_msg: cannot read {argv[0]}: {err.strerror}", file=sys.stderr)
            return 2
    else:
        print("usage: check_commit_msg.py FILE | --since REV", file=sys.stderr)
        return 2
    for problem in found:
        print(f"commit message: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
