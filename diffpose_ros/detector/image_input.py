"""Validate and normalise detector input images to contiguous uint8 RGB."""

from __future__ import annotations

import cv2
import numpy as np

MAX_SIDE = 1920  # larger images are downscaled before detection (results are mapped back to full size)


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """``[H, W]`` grey, ``[H, W, 1|3|4]`` (RGB/RGBA), uint8 or float in [0, 1] -> ``[H, W, 3]`` uint8 RGB.

    Raises ValueError for empty images, wrong rank/channels or non-numeric dtypes.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"image must be [H, W] grey or [H, W, 3|4] RGB(A), got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty (shape {image.shape})")
    numeric = np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)
    if image.dtype == np.bool_ or not numeric:
        raise ValueError(f"image dtype must be integer or float, got {image.dtype}")
    if np.issubdtype(image.dtype, np.floating):
        image = np.nan_to_num(image, nan=0.0, posinf=1.0, neginf=0.0)
        image = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


def downscale(image: np.ndarray, max_side: int = MAX_SIDE) -> tuple[np.ndarray, float]:
    """Shrink so the longer side is at most ``max_side``. Returns ``(image, scale)``, ``small = scale * full``
    in pixel-centre coordinates up to the half-pixel offset handled by :func:`downscale_affine`."""
    h, w = image.shape[:2]
    s = min(1.0, max_side / max(h, w))
    if s >= 1.0:
        return image, 1.0
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), s


def downscale_affine(full_shape: tuple[int, ...], small_shape: tuple[int, ...]) -> np.ndarray:
    """Exact 2x3 affine full-image px -> resized-image px (pixel centres at integers, cv2.resize geometry)."""
    sx = small_shape[1] / full_shape[1]
    sy = small_shape[0] / full_shape[0]
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])
