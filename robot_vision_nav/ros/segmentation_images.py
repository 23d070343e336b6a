"""segmentation_node's images: the camera frame in, the mask, class ids, overlay and confidence out.

`colour_pixels` gives a frame's RGB pixels, or the warning that skips it (wrong encoding, bad
data); `segmentation_images` and `confidence_image` make the output messages, each with the
frame's header and size.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from robot_vision_nav.core.segmentation.step import Segmented
from robot_vision_nav.ros.image import ImageConversionError, image_to_numpy, numpy_to_image, to_rgb

COLOR_ENCODINGS = ("rgb8", "bgr8")


def colour_pixels(msg: Image) -> NDArray[np.uint8] | str:
    """The RGB pixels (uint8 HxWx3) of an rgb8 or bgr8 image, else the problem that skips the frame."""
    if msg.encoding not in COLOR_ENCODINGS:
        return f"wrong encoding '{msg.encoding}', expected rgb8 or bgr8; frame skipped"
    try:
        return to_rgb(image_to_numpy(msg), msg.encoding)
    except ImageConversionError as err:
        return f"bad image: {err}; frame skipped"


def segmentation_images(segmented: Segmented, header: Header) -> tuple[Image, Image, Image | None]:
    """The traversable mask (mono8), the class ids (mono8) and the overlay (rgb8, if made) with `header`."""
    stamp, frame_id = header.stamp, header.frame_id
    overlay = segmented.overlay
    return (
        numpy_to_image(segmented.traversable, "mono8", stamp, frame_id),
        numpy_to_image(segmented.labels, "mono8", stamp, frame_id),
        None if overlay is None else numpy_to_image(overlay, "rgb8", stamp, frame_id),
    )


def confidence_image(segmented: Segmented, header: Header) -> Image | None:
    """The confidence (mono8, 255 x the soft-max probability of the published class) with `header`, if made."""
    confidence = segmented.confidence
    return None if confidence is None else numpy_to_image(confidence, "mono8", header.stamp, header.frame_id)
