"""The replay package's boundary exception, in a module of its own that imports nothing heavy.

`replay.topics` (read by replay.launch.py, which may run under a Python without rosbags) raises it;
`replay.bags` re-exports it for everything else.
"""

from __future__ import annotations


class BagError(Exception):
    """A bag that cannot be read or written; the message names the file and, where known, the topic."""
