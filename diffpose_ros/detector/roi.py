"""The rotated square person ROI of MediaPipe and the exact affines image -> crop -> heatmap.

All coordinates use pixel centres at integers. The ROI square of side ``size`` (image px), centred at
``centre`` and rotated by ``rotation`` (radians; positive turns the crop's "up" clockwise on screen in the
y-down image), maps onto the ``crop x crop`` model input edge to edge:

    crop_px = (crop / size) * R(-rotation) @ (image_px - centre) + (crop - 1) / 2

Heatmap cell ``i`` (stride 4) is centred at crop px ``4i - 0.5``, i.e. at normalised crop coordinate ``i / 64``
(MediaPipe's ``RefineLandmarksFromHeatmap`` convention):

    heatmap_px = (crop_px + 0.5) / 4

Measured, not assumed: over 129-152 confident peaks (sigmoid > 0.5) on 5 real images, the sub-pixel heatmap
peak sits +0.38..0.63 heatmap px (mean about +0.5 in x and y, s.e.m. 0.04) from the regressed landmark under the
"cell covers [4i, 4i+4), centre 4i + 1.5" reading, for lite, full and heavy alike, and about 0 with this one.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..core.camera import compose_affine

CROP_SIZE = 256
HEATMAP_STRIDE = 4
HEATMAP_CELL0_CENTRE = -0.5  # crop px of heatmap cell 0's centre (see module docstring)
ROI_SCALE = 1.25  # MediaPipe RectTransformationCalculator scale for pose
TARGET_ANGLE = np.pi / 2  # the hip -> body-size vector points up in the crop


@dataclass(frozen=True)
class Roi:
    centre: np.ndarray  # [2] image px
    size: float  # side of the square, image px
    rotation: float  # radians

    def corners(self) -> np.ndarray:
        """[4, 2] image px of the outer corners of the crop: top-left, top-right, bottom-right, bottom-left."""
        h = self.size / 2
        local = np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
        c, s = np.cos(self.rotation), np.sin(self.rotation)
        return local @ np.array([[c, s], [-s, c]]) + self.centre

    def is_valid(self) -> bool:
        return bool(np.isfinite(self.centre).all() and np.isfinite(self.size) and self.size > 1.0
                    and np.isfinite(self.rotation))


def roi_from_points(centre: np.ndarray, size_point: np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """MediaPipe alignment-points rect: centre at ``centre``, side ``2 |size_point - centre| * scale``,
    rotated so that ``size_point`` is straight above ``centre`` in the crop."""
    centre = np.asarray(centre, dtype=np.float64)
    d = np.asarray(size_point, dtype=np.float64) - centre
    rotation = TARGET_ANGLE - np.arctan2(-d[1], d[0])
    rotation = (rotation + np.pi) % (2 * np.pi) - np.pi
    return Roi(centre=centre, size=float(2.0 * np.hypot(*d) * scale), rotation=float(rotation))


def image_to_crop_affine(roi: Roi, crop: int = CROP_SIZE) -> np.ndarray:
    """Exact 2x3 affine image px -> crop px (the matrix handed to ``cv2.warpAffine``)."""
    k = crop / roi.size
    c, s = np.cos(roi.rotation), np.sin(roi.rotation)
    rot_inv = k * np.array([[c, s], [-s, c]])  # R(-rotation) scaled
    t = (crop - 1) / 2 - rot_inv @ roi.centre
    return np.concatenate([rot_inv, t[:, None]], axis=1)


def crop_to_heatmap_affine(stride: int = HEATMAP_STRIDE, cell0_centre: float = HEATMAP_CELL0_CENTRE) -> np.ndarray:
    """Crop px -> heatmap px: cell ``i`` is centred at crop px ``cell0_centre + stride * i``."""
    t = -cell0_centre / stride
    return np.array([[1.0 / stride, 0.0, t], [0.0, 1.0 / stride, t]])


def image_to_heatmap_affine(roi: Roi, crop: int = CROP_SIZE, stride: int = HEATMAP_STRIDE) -> np.ndarray:
    return compose_affine(crop_to_heatmap_affine(stride), image_to_crop_affine(roi, crop))


def warp_crop(image: np.ndarray, roi: Roi, crop: int = CROP_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Crop the ROI to ``crop x crop`` (bilinear, black outside). Returns ``(crop image, image->crop affine)``."""
    affine = image_to_crop_affine(roi, crop)
    out = cv2.warpAffine(image, affine, (crop, crop), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=(0, 0, 0))
    return out, affine
