"""sensor_msgs/Image and CompressedImage to numpy RGB, without cv_bridge.

Handles every common encoding, padded rows (``step`` > width * pixel size) and big-endian data.
Raises ImageConversionError with a clear reason on anything it cannot convert. Sizes are checked against
:class:`InputLimits` before any pixel is touched: raw images from height/width/step/len(data), compressed
ones from the PNG/JPEG header, so a decompression bomb is refused before the decoder allocates it. JPEGs larger
than the limit are refused too rather than decoded reduced (a camera sending them is misconfigured).
"""

from __future__ import annotations

import sys

import cv2
import numpy as np

from diffpose_ros.core.image_header import read_image_header
from diffpose_ros.core.input_limits import BAD_COMPRESSED_IMAGE, BAD_IMAGE, BadInputError, InputLimits

# encoding -> (dtype, channels)
ENCODINGS: dict[str, tuple[type, int]] = {
    "mono8": (np.uint8, 1), "8UC1": (np.uint8, 1),
    "mono16": (np.uint16, 1), "16UC1": (np.uint16, 1),
    "32FC1": (np.float32, 1),
    "rgb8": (np.uint8, 3), "bgr8": (np.uint8, 3), "8UC3": (np.uint8, 3),
    "rgba8": (np.uint8, 4), "bgra8": (np.uint8, 4), "8UC4": (np.uint8, 4),
    "rgb16": (np.uint16, 3), "bgr16": (np.uint16, 3),
    "yuv422": (np.uint8, 2), "uyvy": (np.uint8, 2), "yuv422_yuy2": (np.uint8, 2), "yuyv": (np.uint8, 2),
}
MAX_PIXELS = 8192 * 8192  # the default limit when the caller gives none
DEFAULT_LIMITS = InputLimits(max_image_pixels=MAX_PIXELS, max_image_bytes=4 * MAX_PIXELS)


class ImageConversionError(BadInputError):
    """The image message cannot be turned into pixels."""

    def __init__(self, message: str, reason: str = BAD_IMAGE) -> None:
        super().__init__(reason, message)


def check_image_fields(height: int, width: int, encoding: str, step: int, data_size: int,
                       limits: InputLimits = DEFAULT_LIMITS) -> None:
    """Refuse inconsistent or over-limit raw image fields (BadInputError) without reading the data."""
    limits.check_bytes(data_size)
    if encoding not in ENCODINGS:
        raise ImageConversionError(f"unsupported encoding {encoding!r}; supported: {sorted(ENCODINGS)}")
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"empty image ({width}x{height})")
    limits.check_pixels(width, height)
    dtype, channels = ENCODINGS[encoding]
    row_bytes = width * channels * np.dtype(dtype).itemsize
    if step < row_bytes:
        raise ImageConversionError(f"step {step} < width * pixel size {row_bytes} for {encoding}")
    if data_size != step * height:
        raise ImageConversionError(f"data has {data_size} bytes, expected step * height = {step * height}")


def image_to_numpy(height: int, width: int, encoding: str, step: int, is_bigendian: bool,
                   data: "bytes | bytearray | memoryview | np.ndarray",
                   limits: InputLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Raw image fields -> ``[H, W]`` or ``[H, W, C]`` array in native byte order."""
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8).ravel()
    check_image_fields(height, width, encoding, step, buf.size, limits)
    dtype, channels = ENCODINGS[encoding]
    dt = np.dtype(dtype).newbyteorder(">" if is_bigendian else "<")
    row_bytes = width * channels * dt.itemsize
    rows = buf.reshape(height, step)[:, :row_bytes]
    arr = np.ascontiguousarray(rows).view(dt).reshape(height, width, channels)
    arr = arr.astype(dt.newbyteorder("="), copy=False)
    return arr[..., 0] if channels == 1 else arr


def to_rgb8(arr: np.ndarray, encoding: str) -> np.ndarray:
    """Any supported encoding -> ``[H, W, 3]`` uint8 RGB."""
    if encoding in ("yuv422", "uyvy"):
        return cv2.cvtColor(arr, cv2.COLOR_YUV2RGB_UYVY)
    if encoding in ("yuv422_yuy2", "yuyv"):
        return cv2.cvtColor(arr, cv2.COLOR_YUV2RGB_YUYV)
    if arr.dtype != np.uint8:
        if arr.dtype == np.float32:
            finite = arr[np.isfinite(arr)]
            hi = float(finite.max()) if finite.size else 1.0
            arr = np.nan_to_num(arr / (hi if hi > 0 else 1.0) * 255.0, nan=0.0).clip(0, 255)
        else:
            arr = arr >> 8
        arr = arr.astype(np.uint8)
    if arr.ndim == 2:
        return np.repeat(arr[..., None], 3, axis=2)
    if encoding.startswith("bgr"):
        return np.ascontiguousarray(arr[..., 2::-1])
    return np.ascontiguousarray(arr[..., :3])


def image_msg_to_rgb(msg, limits: InputLimits = DEFAULT_LIMITS) -> np.ndarray:
    """sensor_msgs/Image -> ``[H, W, 3]`` uint8 RGB."""
    arr = image_to_numpy(msg.height, msg.width, msg.encoding, msg.step, bool(msg.is_bigendian), msg.data, limits)
    return to_rgb8(arr, msg.encoding)


def check_compressed(data, limits: InputLimits = DEFAULT_LIMITS) -> None:
    """Refuse a compressed image that is too many bytes, not PNG/JPEG, or declares too many pixels."""
    size = len(data)
    if size == 0:
        raise ImageConversionError("empty compressed image", BAD_COMPRESSED_IMAGE)
    limits.check_bytes(size, "compressed image")
    try:
        header = read_image_header(data)
    except ValueError as exc:
        raise ImageConversionError(f"cannot decode compressed image: {exc}", BAD_COMPRESSED_IMAGE) from exc
    limits.check_pixels(header.width, header.height, f"compressed {header.format} image")


def compressed_msg_to_rgb(msg, limits: InputLimits = DEFAULT_LIMITS) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg/png) -> ``[H, W, 3]`` uint8 RGB."""
    check_compressed(msg.data, limits)
    bgr = cv2.imdecode(np.frombuffer(msg.data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageConversionError(f"cannot decode compressed image (format {msg.format!r})", BAD_COMPRESSED_IMAGE)
    return np.ascontiguousarray(bgr[..., ::-1])


def numpy_to_image_fields(arr: np.ndarray, encoding: str) -> dict:
    """``[H, W(, C)]`` array -> the fields of a sensor_msgs/Image (height, width, encoding, step, data...)."""
    if encoding not in ENCODINGS:
        raise ImageConversionError(f"unsupported encoding {encoding!r}")
    dtype, channels = ENCODINGS[encoding]
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[2] != channels:
        raise ImageConversionError(f"{encoding} needs {channels} channels, got {arr.shape[2]}")
    return {"height": arr.shape[0], "width": arr.shape[1], "encoding": encoding,
            "is_bigendian": int(sys.byteorder == "big"), "step": arr.shape[1] * channels * arr.itemsize,
            "data": arr.tobytes()}
