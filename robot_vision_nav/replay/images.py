"""sensor_msgs/CompressedImage payloads to and from raw image arrays, as ROS's image_transport plugins do.

A replay decodes the `compressed` and `compressedDepth` topics stored in a bag into arrays it can publish
as raw sensor_msgs/Image; a recorder encodes raw images back into small payloads. The byte layouts follow
compressed_image_transport (a JPEG or PNG file, format string "<encoding>; <jpeg|png> compressed bgr8") and
compressed_depth_image_transport (a 12-byte little-endian header, then a PNG; 32FC1 depth is stored as
quantised inverse depth). Depth is in millimetres for "16UC1" and in metres for "32FC1".

This module must never import rclpy, rosbags or ROS messages: it sees a format string and bytes only.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import cv2
import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from cv2.typing import MatLike

__all__ = [
    "CompressedImageError",
    "DecodedImage",
    "decode_compressed",
    "encode_compressed_color",
    "encode_compressed_depth",
    "to_image_fields",
]

# compressed_depth_image_transport's ConfigHeader: int32 compressionFormat, float32 depthParam[2].
_DEPTH_HEADER: Final = struct.Struct("<iff")
_DEPTH_HEADER_BYTES: Final = _DEPTH_HEADER.size  # 12
# compressionFormat enum: UNDEFINED = -1, INV_DEPTH = 0; the plugin writes INV_DEPTH for 16UC1 and 32FC1.
_INV_DEPTH: Final = 0
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI: Final = b"\xff\xd8"
# A payload declaring more pixels than this is refused before decoding: a few MB of zlib stream can declare a
# 30000x30000 image that OpenCV would allocate gigabytes for (its own limit is 2**30 pixels). 64 Mpx is
# twice 8K UHD, far beyond any robot camera.
_MAX_PIXELS: Final = 2**26
# JPEG start-of-frame markers (SOF0..SOF15 except DHT 0xC4, JPG 0xC8 and DAC 0xCC): they hold the frame size.
_JPEG_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}

# compressed_depth_image_transport's defaults for 32FC1 quantisation.
_DEPTH_MAX_M: Final = 10.0
_DEPTH_QUANTIZATION: Final = 100.0

# PNG is lossless, so the level changes only size and time, never the decoded pixels.
_COLOR_PNG_LEVEL: Final = 3
_DEPTH_PNG_LEVEL: Final = 9

_ENCODINGS: Final = ("rgb8", "mono8", "16UC1", "32FC1")
_CHANNELS: Final[dict[str, int]] = {"rgb8": 3, "mono8": 1, "16UC1": 1, "32FC1": 1}
# Little-endian dtypes: a raw Image built from to_image_fields has is_bigendian = 0.
_DTYPES: Final[dict[str, np.dtype[np.uint8 | np.uint16 | np.float32]]] = {
    "rgb8": np.dtype("<u1"),
    "mono8": np.dtype("<u1"),
    "16UC1": np.dtype("<u2"),
    "32FC1": np.dtype("<f4"),
}

# Original encodings (the token before ';') that compressed_image_transport stores and we can decode.
_COLOR_8BIT: Final = frozenset({"rgb8", "bgr8", "rgba8", "bgra8", "8UC3", "8UC4"})
_MONO_8BIT: Final = frozenset({"mono8", "8UC1"})
_MONO_16BIT: Final = frozenset({"mono16", "16UC1"})
_DEPTH_16BIT: Final = frozenset({"16UC1", "mono16"})


class CompressedImageError(ValueError):
    """A CompressedImage payload or a raw image that cannot be converted, saying what was expected."""


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """A raw image ready for a sensor_msgs/Image.

    `eq=False` because field-wise equality on numpy arrays is ambiguous; compare `array` explicitly.

    Attributes:
        array: HxWx3 uint8 for "rgb8" (RGB order), HxW uint8 for "mono8", HxW uint16 millimetres for "16UC1",
            HxW float32 metres for "32FC1" (0.0 where the depth is invalid).
        encoding: The ROS image encoding: "rgb8", "mono8", "16UC1" or "32FC1".

    """

    array: NDArray[np.uint8 | np.uint16 | np.float32]
    encoding: str

    def __post_init__(self) -> None:
        """Refuse an array whose dtype or shape does not match the encoding.

        Raises:
            CompressedImageError: On an unknown encoding or a mismatched array.

        """
        if self.encoding not in _ENCODINGS:
            raise CompressedImageError(f"encoding {self.encoding!r} is not one of {', '.join(_ENCODINGS)}")
        expected_dtype = _DTYPES[self.encoding]
        channels = _CHANNELS[self.encoding]
        expected_ndim = 3 if channels > 1 else 2
        shape = self.array.shape
        if (
            self.array.dtype.kind != expected_dtype.kind
            or self.array.dtype.itemsize != expected_dtype.itemsize
            or self.array.ndim != expected_ndim
            or (channels > 1 and shape[2] != channels)
        ):
            expected_shape = f"HxWx{channels}" if channels > 1 else "HxW"
            raise CompressedImageError(
                f"{self.encoding} image must be a {expected_shape} {expected_dtype.name} array, "
                f"got shape {shape} dtype {self.array.dtype}"
            )


def _error(topic: str, message: str) -> CompressedImageError:
    return CompressedImageError(f"{topic}: {message}" if topic else message)


def _as_bytes_array(data: bytes | memoryview | NDArray[np.uint8], topic: str) -> NDArray[np.uint8]:
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise _error(topic, f"data array has dtype {data.dtype}, expected uint8")
        return np.ascontiguousarray(data.reshape(-1))
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError) as err:
        raise _error(topic, f"data is not a contiguous byte buffer: {err}") from err


def _declared_size(payload: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG IHDR or a JPEG SOF header, without decoding; None if neither is found."""
    if payload.startswith(_PNG_SIGNATURE):
        if len(payload) < 24 or payload[12:16] != b"IHDR":
            return None
        width, height = struct.unpack_from(">II", payload, 16)
        return int(width), int(height)
    if not payload.startswith(_JPEG_SOI):
        return None
    i = 2
    while i + 4 <= len(payload):
        if payload[i] != 0xFF:
            return None
        marker = payload[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            return None
        if marker in _JPEG_SOF:
            if i + 9 > len(payload):
                return None
            height, width = struct.unpack_from(">HH", payload, i + 5)
            return int(width), int(height)
        (length,) = struct.unpack_from(">H", payload, i + 2)
        i += 2 + length
    return None


def _png_chunk_problem(payload: bytes) -> str | None:
    """Why a PNG's chunks cannot be read (one runs past the end of the data), or None.

    OpenCV's PNG reader trusts a chunk's declared length: one flipped bit in it (4 GB instead of
    215 bytes) had it allocate and fill gigabytes, seconds of CPU for a 95-byte message.
    """
    i = len(_PNG_SIGNATURE)
    while i + 8 <= len(payload):
        (length,) = struct.unpack_from(">I", payload, i)
        kind = payload[i + 4 : i + 8].decode("latin-1")
        if i + 12 + length > len(payload):
            return (
                f"PNG chunk {kind!r} at byte {i} declares {length} bytes of data, "
                f"{len(payload) - i - 12} follow (truncated or corrupt)"
            )
        if kind == "IEND":
            return None
        i += 12 + length
    return None


def _imdecode(buf: NDArray[np.uint8], what: str, topic: str) -> NDArray[Any]:  # Any: as decoded; callers check
    # OpenCV sniffs the payload and would also decode BMP, TIFF, PNM... whose sizes are not checked here.
    payload = buf.tobytes()
    size = _declared_size(payload)
    if size is None:
        raise _error(topic, f"cannot decode {buf.size} bytes as {what}: not a PNG or JPEG file with a readable size")
    if payload.startswith(_PNG_SIGNATURE) and (problem := _png_chunk_problem(payload)):
        raise _error(topic, f"cannot decode {buf.size} bytes as {what}: {problem}")
    width, height = size
    if width * height > _MAX_PIXELS:
        raise _error(
            topic, f"{what} declares {width}x{height} pixels, more than the {_MAX_PIXELS} allowed; refusing to decode"
        )
    try:
        image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error as err:
        raise _error(topic, f"cannot decode {buf.size} bytes as {what}: {err}") from err
    if image is None:
        raise _error(topic, f"cannot decode {buf.size} bytes as {what} (not a valid image file)")
    return np.asarray(image)


def decode_compressed(format: str, data: bytes | memoryview | NDArray[np.uint8], topic: str = "") -> DecodedImage:
    """Decode a sensor_msgs/CompressedImage payload into a raw image.

    Colour and mono payloads (compressed_image_transport, format e.g. "rgb8; jpeg compressed bgr8",
    "mono8; png compressed", or the old bare "jpeg"/"png") come back as "rgb8" (always RGB order, alpha
    dropped), "mono8", or "16UC1" for a 16-bit single-channel PNG. Depth payloads (compressed_depth_image_transport,
    format e.g. "16UC1; compressedDepth png" or the old "16UC1; compressedDepth") come back as "16UC1" millimetres
    or "32FC1" metres; the plugin gives NaN where a 32FC1 pixel is invalid, this gives 0.0.

    Args:
        format: The CompressedImage `format` field.
        data: The CompressedImage `data` field.
        topic: The topic the message came from, named in error messages when given.

    Returns:
        The decoded image and its ROS encoding.

    Raises:
        CompressedImageError: On empty or undecodable data, an unknown or unsupported format (including
            "compressedDepth rvl"), a bit depth that does not match the stated encoding, a compressedDepth
            header that is short or malformed, or non-finite 32FC1 quantisation parameters.

    """
    buf = _as_bytes_array(data, topic)
    if buf.size == 0:
        raise _error(topic, f"CompressedImage data is empty (format {format!r}), expected an encoded image")
    if "compressedDepth" in format:
        return _decode_depth(format, buf, topic)
    return _decode_color(format, buf, topic)


def _decode_color(format: str, buf: NDArray[np.uint8], topic: str) -> DecodedImage:
    encoding, has_encoding, rest = (part.strip() for part in format.partition(";"))
    if not has_encoding:
        encoding, rest = "", format.strip()
    codec = rest.split()[0].lower() if rest.split() else ""
    if codec not in ("jpeg", "jpg", "png"):
        raise _error(
            topic,
            f"unknown CompressedImage format {format!r}: expected jpeg or png "
            "(e.g. 'rgb8; jpeg compressed bgr8') or compressedDepth (e.g. '16UC1; compressedDepth png')",
        )
    if encoding and encoding not in _COLOR_8BIT | _MONO_8BIT | _MONO_16BIT:
        known = ", ".join(sorted(_COLOR_8BIT | _MONO_8BIT | _MONO_16BIT))
        raise _error(topic, f"unsupported original encoding {encoding!r} in format {format!r}, expected one of {known}")

    image = _imdecode(buf, codec, topic)
    channels = 1 if image.ndim == 2 else image.shape[2]
    if image.dtype == np.uint16:
        if channels != 1:
            raise _error(
                topic, f"{channels}-channel 16-bit image in format {format!r} is not supported, expected 8-bit"
            )
        if encoding and encoding not in _MONO_16BIT:
            raise _error(topic, f"format {format!r} states 8-bit {encoding} but the image is 16-bit")
        return DecodedImage(image.reshape(image.shape[:2]), "16UC1")
    if image.dtype != np.uint8:
        raise _error(topic, f"image in format {format!r} has dtype {image.dtype}, expected uint8 or uint16")
    if encoding in _MONO_16BIT:
        raise _error(topic, f"format {format!r} states 16-bit {encoding} but the image is 8-bit")
    if channels == 1:
        return DecodedImage(np.ascontiguousarray(image.reshape(image.shape[:2])), "mono8")
    if channels not in (3, 4):
        raise _error(topic, f"image in format {format!r} has {channels} channels, expected 1, 3 or 4")
    # compressed_image_transport hands OpenCV BGR data and writes "compressed bgr8"; a colour encoding
    # without it means the encoder handed OpenCV RGB data, so imdecode's output is already RGB.
    already_rgb = encoding in _COLOR_8BIT and "compressed bgr" not in rest
    if channels == 3:
        rgb = image.copy() if already_rgb else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    else:
        rgb = np.ascontiguousarray(image[:, :, :3]) if already_rgb else cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return DecodedImage(np.asarray(rgb), "rgb8")


def _decode_depth(format: str, buf: NDArray[np.uint8], topic: str) -> DecodedImage:
    encoding, has_encoding, rest = (part.strip() for part in format.partition(";"))
    if not has_encoding or not encoding:
        raise _error(
            topic, f"compressedDepth format {format!r} has no encoding, expected e.g. '16UC1; compressedDepth png'"
        )
    if rest.startswith("compressedDepth rvl"):
        raise _error(topic, f"compressedDepth rvl (format {format!r}) is not supported, expected compressedDepth png")
    if rest not in ("compressedDepth", "compressedDepth png"):
        raise _error(topic, f"unknown compressedDepth format {format!r}, expected '<encoding>; compressedDepth png'")
    if encoding not in _DEPTH_16BIT and encoding != "32FC1":
        raise _error(topic, f"compressedDepth encoding {encoding!r} is not supported, expected 16UC1, mono16 or 32FC1")

    payload = buf.tobytes()
    if payload.startswith(_PNG_SIGNATURE):
        # Old bags carry a bare PNG without the ConfigHeader. A real header starts with int32 0, never 0x89.
        if encoding == "32FC1":
            raise _error(
                topic, "32FC1 compressedDepth payload has no 12-byte header, expected depthQuantA/B before the PNG"
            )
        png = buf
    else:
        if len(payload) < _DEPTH_HEADER_BYTES:
            raise _error(
                topic,
                f"compressedDepth payload is {len(payload)} bytes, shorter than its {_DEPTH_HEADER_BYTES}-byte header",
            )
        if len(payload) == _DEPTH_HEADER_BYTES:
            raise _error(
                topic, f"compressedDepth payload is only its {_DEPTH_HEADER_BYTES}-byte header, expected a PNG after it"
            )
        compression, quant_a, quant_b = _DEPTH_HEADER.unpack_from(payload)
        if compression != _INV_DEPTH:
            raise _error(
                topic,
                f"compressedDepth header format is {compression}, expected {_INV_DEPTH} (INV_DEPTH); "
                "is this a compressedDepth payload?",
            )
        if encoding == "32FC1" and not (math.isfinite(quant_a) and math.isfinite(quant_b) and quant_a != 0.0):
            raise _error(
                topic,
                f"compressedDepth header has depthQuantA={quant_a}, depthQuantB={quant_b}, "
                "expected finite values with depthQuantA != 0",
            )
        png = buf[_DEPTH_HEADER_BYTES:]

    image = _imdecode(png, "compressedDepth png", topic)
    if image.dtype != np.uint16 or image.ndim != 2:
        channels = 1 if image.ndim == 2 else image.shape[2]
        raise _error(
            topic,
            f"compressedDepth {encoding} PNG is {channels}-channel {image.dtype}, expected single-channel uint16",
        )
    if encoding in _DEPTH_16BIT:
        return DecodedImage(image, "16UC1")

    # Invert the plugin's quantisation in float32, as it does: depth = A / (value - B); 0 marks invalid.
    quant = np.asarray(image, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.float32(quant_a) / (quant - np.float32(quant_b))
    depth[(image == 0) | ~np.isfinite(depth)] = 0.0
    return DecodedImage(depth.astype(np.float32, copy=False), "32FC1")


def _check_png_or_jpeg(ok: bool, encoded: MatLike | None, what: str) -> bytes:
    if not ok or encoded is None:
        raise CompressedImageError(f"OpenCV could not encode the image as {what}")
    return bytes(np.asarray(encoded, dtype=np.uint8).tobytes())


def encode_compressed_color(rgb: NDArray[np.uint8], fmt: str = "jpeg", quality: int = 90) -> tuple[str, bytes]:
    """Encode an RGB image as compressed_image_transport does.

    The same input and settings always give the same bytes.

    Args:
        rgb: HxWx3 uint8 image in RGB order ("rgb8").
        fmt: "jpeg" or "png".
        quality: JPEG quality, 1 to 100 (ignored for lossless PNG, but still checked).

    Returns:
        The CompressedImage `format` ("rgb8; jpeg compressed bgr8" or "rgb8; png compressed bgr8") and `data`.

    Raises:
        CompressedImageError: On a wrong shape or dtype, an unknown format or a quality outside 1 to 100.

    """
    if fmt not in ("jpeg", "png"):
        raise CompressedImageError(f"compression format {fmt!r} is not supported, expected 'jpeg' or 'png'")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise CompressedImageError(f"quality is {quality!r}, expected an integer in [1, 100]")
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise CompressedImageError(
            f"rgb8 image must be a non-empty HxWx3 uint8 array, got shape {rgb.shape} dtype {rgb.dtype}"
        )
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, _COLOR_PNG_LEVEL]
    ok, encoded = cv2.imencode(f".{fmt}", bgr, params)
    return f"rgb8; {fmt} compressed bgr8", _check_png_or_jpeg(ok, encoded, fmt)


def encode_compressed_depth(depth: NDArray[np.uint16] | NDArray[np.float32], encoding: str) -> tuple[str, bytes]:
    """Encode a depth image as compressed_depth_image_transport's PNG path does.

    "16UC1" is stored as is (lossless; unlike the plugin, depths beyond 10 m are kept, so a round trip is exact).
    "32FC1" is quantised with the plugin's defaults (depth_max 10 m, depth_quantization 100):
    value = A / depth + B with A = 100 * 101 and B = 1 - A / 10, rounded to uint16. The resolution is
    depth² / A, about 1 cm at 10 m and 0.1 mm at 1 m. Depths that are NaN, not positive or beyond 10 m are
    stored as 0 (invalid); depths under A / (65535 - B) ≈ 0.152 m saturate to that nearest representable depth.

    Args:
        depth: HxW uint16 millimetres for "16UC1", HxW float32 metres for "32FC1".
        encoding: "16UC1" or "32FC1".

    Returns:
        The CompressedImage `format` ("<encoding>; compressedDepth png") and `data` (12-byte header, then PNG).

    Raises:
        CompressedImageError: On an unknown encoding or an array that does not match it.

    """
    expected = {"16UC1": np.uint16, "32FC1": np.float32}
    if encoding not in expected:
        raise CompressedImageError(f"compressedDepth encoding {encoding!r} is not supported, expected 16UC1 or 32FC1")
    if depth.dtype != expected[encoding] or depth.ndim != 2 or depth.size == 0:
        raise CompressedImageError(
            f"{encoding} depth must be a non-empty HxW {np.dtype(expected[encoding]).name} array, "
            f"got shape {depth.shape} dtype {depth.dtype}"
        )
    if encoding == "16UC1":
        header = _DEPTH_HEADER.pack(_INV_DEPTH, 0.0, 0.0)
        png_input: NDArray[np.uint16 | np.float32] = np.ascontiguousarray(depth)
    else:
        # float32 like the plugin, so the header holds exactly the values used to quantise.
        quant_a = np.float32(_DEPTH_QUANTIZATION * (_DEPTH_QUANTIZATION + 1.0))
        quant_b = np.float32(1.0 - quant_a / np.float32(_DEPTH_MAX_M))
        header = _DEPTH_HEADER.pack(_INV_DEPTH, float(quant_a), float(quant_b))
        metres = depth.astype(np.float64)
        valid = np.isfinite(metres) & (metres > 0.0) & (metres <= _DEPTH_MAX_M)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(valid, float(quant_a) / metres + float(quant_b), 0.0)
        # A valid depth never becomes 0 (invalid), nor wraps past 65535 as the plugin's C cast would.
        png_input = np.where(valid, np.clip(np.rint(value), 1, 65535), 0).astype(np.uint16)
    ok, encoded = cv2.imencode(".png", png_input, [cv2.IMWRITE_PNG_COMPRESSION, _DEPTH_PNG_LEVEL])
    return f"{encoding}; compressedDepth png", header + _check_png_or_jpeg(ok, encoded, "png")


def to_image_fields(decoded: DecodedImage) -> tuple[int, int, str, int, bytes]:
    """The fields of a raw sensor_msgs/Image for a decoded image.

    Args:
        decoded: The image to describe.

    Returns:
        (height, width, encoding, step, data): step is bytes per row with no padding, data is little-endian
        (is_bigendian = 0).

    """
    dtype = _DTYPES[decoded.encoding]
    array = np.ascontiguousarray(decoded.array, dtype=dtype)
    height, width = int(array.shape[0]), int(array.shape[1])
    step = width * _CHANNELS[decoded.encoding] * dtype.itemsize
    return height, width, decoded.encoding, step, array.tobytes()
