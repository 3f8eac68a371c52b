"""sensor_msgs/Image and CompressedImage to numpy RGB, without cv_bridge.

Handles every common encoding, padded rows (``step`` > width * pixel size) and big-endian data.
Raises ImageConversionError with a clear reason on anything it cannot convert.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np

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
MAX_PIXELS = 8192 * 8192


class ImageConversionError(ValueError):
    """The image message cannot be turned into pixels."""


def image_to_numpy(height: int, width: int, encoding: str, step: int, is_bigendian: bool,
                   data: "bytes | bytearray | memoryview | np.ndarray") -> np.ndarray:
    """Raw image fields -> ``[H, W]`` or ``[H, W, C]`` array in native byte order."""
    if encoding not in ENCODINGS:
        raise ImageConversionError(f"unsupported encoding {encoding!r}; supported: {sorted(ENCODINGS)}")
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"empty image ({width}x{height})")
    if height * width > MAX_PIXELS:
        raise ImageConversionError(f"image too large ({width}x{height} > {MAX_PIXELS} pixels)")
    dtype, channels = ENCODINGS[encoding]
    dt = np.dtype(dtype).newbyteorder(">" if is_bigendian else "<")
    row_bytes = width * channels * dt.itemsize
    if step < row_bytes:
        raise ImageConversionError(f"step {step} < width * pixel size {row_bytes} for {encoding}")
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8).ravel()
    if buf.size < step * height:
        raise ImageConversionError(f"data has {buf.size} bytes, expected step * height = {step * height}")
    rows = buf[: step * height].reshape(height, step)[:, :row_bytes]
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


def image_msg_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/Image -> ``[H, W, 3]`` uint8 RGB."""
    arr = image_to_numpy(msg.height, msg.width, msg.encoding, msg.step, bool(msg.is_bigendian), msg.data)
    return to_rgb8(arr, msg.encoding)


def compressed_msg_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg/png) -> ``[H, W, 3]`` uint8 RGB."""
    buf = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if buf.size == 0:
        raise ImageConversionError("empty compressed image")
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageConversionError(f"cannot decode compressed image (format {msg.format!r})")
    if bgr.shape[0] * bgr.shape[1] > MAX_PIXELS:
        raise ImageConversionError(f"image too large ({bgr.shape[1]}x{bgr.shape[0]})")
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
