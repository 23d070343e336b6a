"""CompressedImage payload <-> raw image round trips and failure modes, with real OpenCV encoding."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from robot_vision_nav.replay.images import (
    CompressedImageError,
    DecodedImage,
    decode_compressed,
    encode_compressed_color,
    encode_compressed_depth,
    to_image_fields,
)

TOPIC = "/camera/color/image_raw/compressed"
DEPTH_TOPIC = "/camera/depth/image_raw/compressedDepth"
# compressed_depth_image_transport's 32FC1 quantisation with depth_max 10 m, depth_quantization 100.
QUANT_A = 100.0 * 101.0
QUANT_B = 1.0 - QUANT_A / 10.0


def smooth_rgb(height: int = 48, width: int = 64) -> np.ndarray:
    """A gradient image: JPEG keeps it close, unlike noise."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack(
        [x * 255 // (width - 1), y * 255 // (height - 1), (x + y) * 255 // (width + height - 2)], -1
    ).astype(np.uint8)


def noise_rgb(rng: np.random.Generator, height: int = 12, width: int = 17) -> np.ndarray:
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def png_bytes(array: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return buf.tobytes()


def depth_payload(png_input: np.ndarray, header: tuple[int, float, float] = (0, 0.0, 0.0)) -> bytes:
    return struct.pack("<iff", *header) + png_bytes(png_input)


# --- colour and mono (compressed_image_transport) ---


def test_jpeg_color_round_trip_is_close_and_rgb_ordered() -> None:
    rgb = smooth_rgb()
    fmt, data = encode_compressed_color(rgb, "jpeg", quality=95)
    assert fmt == "rgb8; jpeg compressed bgr8"
    assert data[:2] == b"\xff\xd8"  # a JPEG file, as the plugin stores it
    decoded = decode_compressed(fmt, data, TOPIC)
    assert decoded.encoding == "rgb8"
    assert decoded.array.shape == rgb.shape and decoded.array.dtype == np.uint8
    assert np.abs(decoded.array.astype(int) - rgb.astype(int)).mean() < 2.0

    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    again = decode_compressed(*encode_compressed_color(red, "jpeg")).array
    assert again[..., 0].min() > 240 and again[..., 1:].max() < 15  # red stays in the R channel


def test_png_color_round_trip_is_exact() -> None:
    rgb = noise_rgb(np.random.default_rng(0))
    fmt, data = encode_compressed_color(rgb, "png")
    assert fmt == "rgb8; png compressed bgr8"
    assert data.startswith(b"\x89PNG")
    decoded = decode_compressed(fmt, data, TOPIC)
    assert decoded.encoding == "rgb8"
    np.testing.assert_array_equal(decoded.array, rgb)


def test_encoded_color_payload_holds_bgr_data_as_the_plugin_writes_it() -> None:
    rgb = noise_rgb(np.random.default_rng(1))
    _, data = encode_compressed_color(rgb, "png")
    # Any image_transport subscriber decodes with imdecode and gets BGR.
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED), rgb[..., ::-1])


@pytest.mark.parametrize(
    "fmt", ["bgr8; png compressed bgr8", "rgb8; png compressed bgr8", "png", "8UC3; png compressed bgr8"]
)
def test_bgr_tagged_and_legacy_payloads_decode_to_rgb(fmt: str) -> None:
    rgb = noise_rgb(np.random.default_rng(2))
    decoded = decode_compressed(fmt, png_bytes(np.ascontiguousarray(rgb[..., ::-1])), TOPIC)
    assert decoded.encoding == "rgb8"
    np.testing.assert_array_equal(decoded.array, rgb)


def test_colour_payload_tagged_compressed_rgb_is_not_swapped() -> None:
    # Without "compressed bgr" the plugin takes imdecode's output as RGB already.
    rgb = noise_rgb(np.random.default_rng(3))
    decoded = decode_compressed("rgb8; png compressed rgb8", png_bytes(rgb), TOPIC)
    np.testing.assert_array_equal(decoded.array, rgb)


def test_four_channel_png_drops_alpha_and_gives_rgb() -> None:
    rng = np.random.default_rng(4)
    rgb = noise_rgb(rng)
    alpha = rng.integers(0, 256, rgb.shape[:2], dtype=np.uint8)
    bgra = np.dstack([rgb[..., ::-1], alpha])
    decoded = decode_compressed("bgra8; png compressed bgra8", png_bytes(bgra), TOPIC)
    assert decoded.encoding == "rgb8" and decoded.array.shape == rgb.shape
    np.testing.assert_array_equal(decoded.array, rgb)


@pytest.mark.parametrize(
    ("fmt", "ext"),
    [
        ("mono8; png compressed ", ".png"),
        ("mono8; png compressed mono8", ".png"),
        ("png", ".png"),
        ("mono8; jpeg compressed mono8", ".jpg"),
        ("jpeg", ".jpg"),
    ],
)
def test_mono8_round_trip(fmt: str, ext: str) -> None:
    y, x = np.mgrid[0:20, 0:30]
    mono = ((x * 7 + y * 3) % 256).astype(np.uint8)
    ok, buf = cv2.imencode(ext, mono, [cv2.IMWRITE_JPEG_QUALITY, 98] if ext == ".jpg" else [])
    assert ok
    decoded = decode_compressed(fmt, buf.tobytes(), TOPIC)
    assert decoded.encoding == "mono8"
    assert decoded.array.shape == mono.shape and decoded.array.dtype == np.uint8
    if ext == ".png":
        np.testing.assert_array_equal(decoded.array, mono)
    else:
        assert np.abs(decoded.array.astype(int) - mono.astype(int)).mean() < 3.0


@pytest.mark.parametrize("fmt", ["16UC1; png compressed", "mono16; png compressed ", "png"])
def test_16bit_single_channel_png_decodes_to_16uc1(fmt: str) -> None:
    depth_mm = np.random.default_rng(5).integers(0, 65536, (9, 11), dtype=np.uint16)
    decoded = decode_compressed(fmt, png_bytes(depth_mm), TOPIC)
    assert decoded.encoding == "16UC1"
    np.testing.assert_array_equal(decoded.array, depth_mm)


def test_decode_accepts_bytes_memoryview_and_uint8_array() -> None:
    rgb = noise_rgb(np.random.default_rng(6))
    fmt, data = encode_compressed_color(rgb, "png")
    for payload in (data, memoryview(data), np.frombuffer(data, np.uint8), bytearray(data)):
        np.testing.assert_array_equal(decode_compressed(fmt, payload).array, rgb)


# --- depth (compressed_depth_image_transport) ---


def test_compressed_depth_16uc1_round_trip_is_exact() -> None:
    depth_mm = np.random.default_rng(7).integers(0, 65536, (13, 17), dtype=np.uint16)
    depth_mm[0, :3] = [0, 1, 65535]
    fmt, data = encode_compressed_depth(depth_mm, "16UC1")
    assert fmt == "16UC1; compressedDepth png"
    assert struct.unpack_from("<iff", data) == (0, 0.0, 0.0)
    assert data[12:16] == b"\x89PNG"
    decoded = decode_compressed(fmt, data, DEPTH_TOPIC)
    assert decoded.encoding == "16UC1" and decoded.array.dtype == np.uint16
    np.testing.assert_array_equal(decoded.array, depth_mm)


def test_compressed_depth_32fc1_header_holds_the_plugin_default_quantisation() -> None:
    fmt, data = encode_compressed_depth(np.ones((4, 5), np.float32), "32FC1")
    assert fmt == "32FC1; compressedDepth png"
    compression, quant_a, quant_b = struct.unpack_from("<iff", data)
    assert (compression, quant_a, quant_b) == (0, QUANT_A, QUANT_B)
    stored = cv2.imdecode(np.frombuffer(data[12:], np.uint8), cv2.IMREAD_UNCHANGED)
    assert stored.dtype == np.uint16
    assert np.all(stored == round(QUANT_A / 1.0 + QUANT_B))  # 9091: inverse depth, not metres


def test_compressed_depth_32fc1_round_trip_within_quantisation() -> None:
    rng = np.random.default_rng(8)
    depth_m = rng.uniform(0.2, 10.0, (40, 50)).astype(np.float32)
    depth_m[0, :4] = [0.2, 1.0, 5.0, 10.0]
    fmt, data = encode_compressed_depth(depth_m, "32FC1")
    decoded = decode_compressed(fmt, data, DEPTH_TOPIC)
    assert decoded.encoding == "32FC1" and decoded.array.dtype == np.float32
    d = depth_m.astype(np.float64)
    # Rounding the inverse depth by at most 0.5 moves the depth by at most 0.5 d² / (A - 0.5 d).
    bound = 0.5 * d**2 / (QUANT_A - 0.5 * d) + 1e-6 * d
    error = np.abs(decoded.array.astype(np.float64) - d)
    assert np.all(error <= bound)
    assert error[0, 3] / 10.0 < 1e-3  # ~0.05 % at 10 m
    assert error[0, 1] < 1e-4  # under 0.1 mm at 1 m


def test_compressed_depth_32fc1_invalid_depths_decode_to_zero() -> None:
    depth_m = np.array([[0.0, np.nan, np.inf, -1.0, 10.5, 2.0]], dtype=np.float32)
    decoded = decode_compressed(*encode_compressed_depth(depth_m, "32FC1"), topic=DEPTH_TOPIC).array
    np.testing.assert_array_equal(decoded[0, :5], np.zeros(5, np.float32))
    assert abs(decoded[0, 5] - 2.0) < 1e-3


def test_compressed_depth_32fc1_nearer_than_representable_saturates_instead_of_wrapping() -> None:
    nearest_m = QUANT_A / (65535 - QUANT_B)  # about 0.152 m
    depth_m = np.array([[0.05, 0.1, nearest_m]], dtype=np.float32)
    decoded = decode_compressed(*encode_compressed_depth(depth_m, "32FC1")).array
    np.testing.assert_allclose(decoded, np.full((1, 3), nearest_m), rtol=1e-5)


def test_compressed_depth_32fc1_decode_matches_the_plugin_formula() -> None:
    quant = np.array([[0, 1, 100, 9091, 65535]], dtype=np.uint16)
    a, b = 5000.0, -250.0
    decoded = decode_compressed("32FC1; compressedDepth png", depth_payload(quant, (0, a, b)), DEPTH_TOPIC)
    expected = np.float32(a) / (quant.astype(np.float32) - np.float32(b))
    expected[0, 0] = 0.0
    np.testing.assert_array_equal(decoded.array, expected)


@pytest.mark.parametrize("fmt", ["16UC1; compressedDepth", "16UC1; compressedDepth png", "mono16; compressedDepth png"])
def test_old_headerless_16uc1_png_is_accepted(fmt: str) -> None:
    depth_mm = np.random.default_rng(9).integers(0, 65536, (6, 8), dtype=np.uint16)
    decoded = decode_compressed(fmt, png_bytes(depth_mm), DEPTH_TOPIC)
    assert decoded.encoding == "16UC1"
    np.testing.assert_array_equal(decoded.array, depth_mm)


def test_old_format_without_png_token_reads_a_headed_payload() -> None:
    depth_mm = np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000
    decoded = decode_compressed("16UC1; compressedDepth", depth_payload(depth_mm), DEPTH_TOPIC)
    np.testing.assert_array_equal(decoded.array, depth_mm)


def test_compressed_depth_header_too_short_says_sizes() -> None:
    with pytest.raises(CompressedImageError) as info:
        decode_compressed("16UC1; compressedDepth png", b"\x00" * 7, DEPTH_TOPIC)
    assert str(info.value) == (f"{DEPTH_TOPIC}: compressedDepth payload is 7 bytes, shorter than its 12-byte header")


# --- errors ---

GOOD_DEPTH_PNG = png_bytes(np.ones((3, 3), np.uint16))
MONO8_PNG = png_bytes(np.ones((3, 3), np.uint8))


@pytest.mark.parametrize(
    ("fmt", "data", "expected"),
    [
        ("rgb8; jpeg compressed bgr8", b"", "empty"),
        ("rgb8; jpeg compressed bgr8", np.zeros(0, np.uint8), "empty"),
        ("rgb8; jpeg compressed bgr8", b"definitely not a jpeg", "cannot decode"),
        ("16UC1; compressedDepth png", struct.pack("<iff", 0, 0.0, 0.0) + b"garbage!", "cannot decode"),
        ("rgb8; tiff compressed bgr8", MONO8_PNG, "unknown CompressedImage format"),
        ("h264", MONO8_PNG, "unknown CompressedImage format"),
        ("32FC1; png compressed", MONO8_PNG, "unsupported original encoding"),
        ("16UC1; compressedDepth zstd", GOOD_DEPTH_PNG, "unknown compressedDepth format"),
        ("compressedDepth", GOOD_DEPTH_PNG, "has no encoding"),
        ("rgb8; compressedDepth png", GOOD_DEPTH_PNG, "not supported"),
        ("16UC1; compressedDepth rvl", b"\x00" * 40, "rvl"),
        ("32FC1; compressedDepth rvl", b"\x00" * 40, "rvl"),
        ("16UC1; compressedDepth png", struct.pack("<iff", 0, 0.0, 0.0) + MONO8_PNG, "expected single-channel uint16"),
        ("32FC1; compressedDepth png", struct.pack("<iff", 0, 1.0, 0.0) + MONO8_PNG, "expected single-channel uint16"),
        ("mono16; png compressed", MONO8_PNG, "states 16-bit"),
        ("rgb8; png compressed bgr8", GOOD_DEPTH_PNG, "states 8-bit"),
        ("rgb16; png compressed bgr16", png_bytes(np.ones((3, 3, 3), np.uint16)), "unsupported original encoding"),
        ("png", png_bytes(np.ones((3, 3, 3), np.uint16)), "16-bit image"),
        ("16UC1; compressedDepth png", b"\x00" * 7, "shorter than its 12-byte header"),
        ("16UC1; compressedDepth png", struct.pack("<iff", 0, 0.0, 0.0), "only its 12-byte header"),
        ("16UC1; compressedDepth png", struct.pack("<iff", 3, 0.0, 0.0) + GOOD_DEPTH_PNG, "header format is 3"),
        ("32FC1; compressedDepth png", struct.pack("<iff", 0, float("nan"), 0.0) + GOOD_DEPTH_PNG, "depthQuantA=nan"),
        ("32FC1; compressedDepth png", struct.pack("<iff", 0, 1.0, float("inf")) + GOOD_DEPTH_PNG, "depthQuantB=inf"),
        ("32FC1; compressedDepth png", GOOD_DEPTH_PNG, "no 12-byte header"),
        ("png", np.zeros(4, np.int32), "expected uint8"),
    ],
)
def test_bad_payloads_raise_compressed_image_error_naming_the_topic(fmt: str, data: object, expected: str) -> None:
    with pytest.raises(CompressedImageError) as info:
        decode_compressed(fmt, data, DEPTH_TOPIC)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith(f"{DEPTH_TOPIC}: ")
    assert expected in message
    assert isinstance(info.value, ValueError)


def _png_chunks(payload: bytes) -> list[tuple[int, bytes]]:
    """(offset, type) of each chunk of a well-formed PNG."""
    chunks, i = [], 8
    while i < len(payload):
        (length,) = struct.unpack_from(">I", payload, i)
        chunks.append((i, payload[i + 4 : i + 8]))
        i += 12 + length
    return chunks


@pytest.mark.parametrize("flip", [0x80, 0xF3, 0xFF])
def test_a_png_chunk_longer_than_the_data_is_refused_before_decoding(flip: int) -> None:
    # One flipped bit in an IDAT length (4 GB instead of ~200 bytes) made OpenCV allocate and fill
    # gigabytes: 1-7 s of CPU for a 95-byte message (found by fuzzing). Every chunk, colour and depth.
    rng = np.random.default_rng(3)
    payloads = [
        encode_compressed_color(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), "png"),
        encode_compressed_depth(rng.integers(0, 5000, (12, 16), dtype=np.uint16), "16UC1"),
    ]
    for fmt, payload in payloads:
        start = payload.index(b"\x89PNG")
        png = payload[start:]
        for offset, kind in _png_chunks(png):
            bad = bytearray(payload)
            bad[start + offset] ^= flip  # the high byte of the chunk's length
            with pytest.raises(CompressedImageError, match=f"PNG chunk '{kind.decode()}' at byte {offset} declares"):
                decode_compressed(fmt, bytes(bad), "/cam")


def test_error_without_topic_has_no_prefix() -> None:
    with pytest.raises(CompressedImageError, match=r"^CompressedImage data is empty"):
        decode_compressed("jpeg", b"")


def test_16uc1_header_quant_values_are_ignored() -> None:
    # Old plugin versions left depthParam uninitialised for 16UC1, so garbage there must not matter.
    depth_mm = np.full((2, 3), 1234, np.uint16)
    decoded = decode_compressed("16UC1; compressedDepth png", depth_payload(depth_mm, (0, float("nan"), 7.0)))
    np.testing.assert_array_equal(decoded.array, depth_mm)


# --- encoders ---


def test_encoders_are_deterministic() -> None:
    rng = np.random.default_rng(10)
    rgb = noise_rgb(rng, 30, 40)
    depth_mm = rng.integers(0, 65536, (30, 40), dtype=np.uint16)
    depth_m = rng.uniform(0.0, 12.0, (30, 40)).astype(np.float32)
    assert encode_compressed_color(rgb, "jpeg") == encode_compressed_color(rgb.copy(), "jpeg")
    assert encode_compressed_color(rgb, "png") == encode_compressed_color(rgb.copy(), "png")
    assert encode_compressed_depth(depth_mm, "16UC1") == encode_compressed_depth(depth_mm.copy(), "16UC1")
    assert encode_compressed_depth(depth_m, "32FC1") == encode_compressed_depth(depth_m.copy(), "32FC1")


def test_color_encoder_accepts_a_non_contiguous_view() -> None:
    big = noise_rgb(np.random.default_rng(11), 20, 30)
    view = big[::2, 1::3]
    decoded = decode_compressed(*encode_compressed_color(view, "png"))
    np.testing.assert_array_equal(decoded.array, view)


def test_jpeg_quality_changes_size() -> None:
    rgb = noise_rgb(np.random.default_rng(12), 64, 64)
    assert len(encode_compressed_color(rgb, "jpeg", 20)[1]) < len(encode_compressed_color(rgb, "jpeg", 95)[1])


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"rgb": np.zeros((4, 4), np.uint8)}, "HxWx3 uint8"),
        ({"rgb": np.zeros((4, 4, 4), np.uint8)}, "HxWx3 uint8"),
        ({"rgb": np.zeros((4, 4, 3), np.float32)}, "HxWx3 uint8"),
        ({"rgb": np.zeros((0, 4, 3), np.uint8)}, "non-empty"),
        ({"rgb": np.zeros((4, 4, 3), np.uint8), "fmt": "webp"}, "expected 'jpeg' or 'png'"),
        ({"rgb": np.zeros((4, 4, 3), np.uint8), "quality": 0}, "[1, 100]"),
        ({"rgb": np.zeros((4, 4, 3), np.uint8), "quality": 101}, "[1, 100]"),
        ({"rgb": np.zeros((4, 4, 3), np.uint8), "quality": 90.0}, "[1, 100]"),
    ],
)
def test_color_encoder_refuses_bad_input(kwargs: dict[str, object], expected: str) -> None:
    with pytest.raises(CompressedImageError) as info:
        encode_compressed_color(**kwargs)  # type: ignore[arg-type]
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("depth", "encoding", "expected"),
    [
        (np.zeros((4, 4), np.float32), "16UC1", "HxW uint16"),
        (np.zeros((4, 4), np.uint16), "32FC1", "HxW float32"),
        (np.zeros((4, 4), np.float64), "32FC1", "HxW float32"),
        (np.zeros((4, 4, 1), np.uint16), "16UC1", "HxW uint16"),
        (np.zeros((0, 4), np.uint16), "16UC1", "non-empty"),
        (np.zeros((4, 4), np.uint16), "mono16", "expected 16UC1 or 32FC1"),
    ],
)
def test_depth_encoder_refuses_bad_input(depth: np.ndarray, encoding: str, expected: str) -> None:
    with pytest.raises(CompressedImageError) as info:
        encode_compressed_depth(depth, encoding)
    assert expected in str(info.value)


# --- raw Image fields ---


@pytest.mark.parametrize(
    ("array", "encoding", "bytes_per_pixel"),
    [
        (np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3), "rgb8", 3),
        (np.arange(6, dtype=np.uint8).reshape(2, 3), "mono8", 1),
        (np.array([[1, 256, 65535], [2, 3, 4]], dtype=np.uint16), "16UC1", 2),
        (np.array([[0.5, -1.0, 3.25], [0.0, 1e3, 7.0]], dtype=np.float32), "32FC1", 4),
    ],
)
def test_to_image_fields_is_little_endian_without_padding(
    array: np.ndarray, encoding: str, bytes_per_pixel: int
) -> None:
    height, width, enc, step, data = to_image_fields(DecodedImage(array, encoding))
    assert (height, width, enc) == (2, 3, encoding)
    assert step == width * bytes_per_pixel
    assert len(data) == step * height
    little = array.dtype.newbyteorder("<")
    np.testing.assert_array_equal(np.frombuffer(data, little).reshape(array.shape), array)


def test_to_image_fields_converts_big_endian_and_strided_arrays() -> None:
    array = np.array([[1, 258, 65535, 4]], dtype=">u2")[:, ::2]
    _, width, _, step, data = to_image_fields(DecodedImage(array, "16UC1"))
    assert (width, step) == (2, 4)
    assert data == struct.pack("<2H", 1, 65535)


def test_to_image_fields_after_decode_builds_a_consistent_image() -> None:
    rgb = noise_rgb(np.random.default_rng(13))
    height, width, encoding, step, data = to_image_fields(decode_compressed(*encode_compressed_color(rgb, "png")))
    assert (height, width, encoding, step) == (rgb.shape[0], rgb.shape[1], "rgb8", rgb.shape[1] * 3)
    assert data == rgb.tobytes()


@pytest.mark.parametrize(
    ("array", "encoding"),
    [
        (np.zeros((2, 2), np.uint8), "rgb8"),
        (np.zeros((2, 2, 3), np.uint8), "mono8"),
        (np.zeros((2, 2), np.float32), "16UC1"),
        (np.zeros((2, 2), np.float64), "32FC1"),
        (np.zeros((2, 2), np.uint8), "bgr8"),
    ],
)
def test_decoded_image_refuses_an_array_that_does_not_match_its_encoding(array: np.ndarray, encoding: str) -> None:
    with pytest.raises(CompressedImageError):
        DecodedImage(array, encoding)
