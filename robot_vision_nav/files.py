"""Writing result files: atomically (a reader never sees half a file) and pictures encoded by OpenCV.

OpenCV is imported only to encode: launch-time code (ros.bringup) writes files here under a
Python without it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and `os.replace`.

    A reader never sees a half-written file, and a failure leaves whatever was there before.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
        os.chmod(tmp_name, 0o644)  # mkstemp makes it 0600; a picture is for everyone to read
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def encode_image(image: NDArray[np.uint8], suffix: str = ".png", rgb: bool = True) -> bytes:
    """Encode an image for a file with `suffix` (RGB pictures are converted to OpenCV's BGR)."""
    import cv2

    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if rgb and image.ndim == 3 else image
    ok, buffer = cv2.imencode(suffix, pixels)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} {image.dtype} image as {suffix}")
    return buffer.tobytes()
