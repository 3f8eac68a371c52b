"""Limits on what one input message may make the estimator allocate, checked before anything is allocated.

A refusal raises :class:`BadInputError` carrying a machine-readable ``reason`` (one of :data:`REASONS`), so a
caller (the ROS node) can count drops by reason.
"""

from __future__ import annotations

from dataclasses import dataclass

# Why an input was refused (the node publishes one counter per reason: dropped_<reason>).
TOO_MANY_BYTES = "too_many_bytes"
TOO_MANY_PIXELS = "too_many_pixels"
BAD_IMAGE = "bad_image"
BAD_COMPRESSED_IMAGE = "bad_compressed_image"
BAD_CAMERA_INFO = "bad_camera_info"
TOO_MANY_PEOPLE = "too_many_people"
TOO_LARGE_HEATMAP = "too_large_heatmap"
BAD_HEATMAP = "bad_heatmap"
BAD_HEATMAP_AFFINE = "bad_heatmap_affine"
BAD_OBSERVATIONS = "bad_observations"
BAD_IMU = "bad_imu"
PROCESSING_ERROR = "processing_error"
REASONS: tuple[str, ...] = (TOO_MANY_BYTES, TOO_MANY_PIXELS, BAD_IMAGE, BAD_COMPRESSED_IMAGE, BAD_CAMERA_INFO,
                            TOO_MANY_PEOPLE, TOO_LARGE_HEATMAP, BAD_HEATMAP, BAD_HEATMAP_AFFINE, BAD_OBSERVATIONS,
                            BAD_IMU, PROCESSING_ERROR)
MAX_JOINT_NAMES = 256  # joints an Observations2D may name (the estimator uses 17)


class BadInputError(ValueError):
    """An input refused before (or instead of) processing; ``reason`` is one of REASONS."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class InputLimits:
    max_image_pixels: int = 4096 * 4096
    max_image_bytes: int = 128 * 2**20
    max_people: int = 16
    max_heatmap_values: int = 17 * 256 * 256  # per person: joints * H * W

    def check_bytes(self, size: int, what: str = "image") -> None:
        if size > self.max_image_bytes:
            raise BadInputError(TOO_MANY_BYTES, f"{what} has {size} bytes > max_image_bytes {self.max_image_bytes}")

    def check_pixels(self, width: int, height: int, what: str = "image") -> None:
        if width * height > self.max_image_pixels:
            raise BadInputError(TOO_MANY_PIXELS, f"{what} is {width}x{height} > max_image_pixels "
                                                 f"{self.max_image_pixels}")

    def check_people(self, count: int) -> None:
        if count > self.max_people:
            raise BadInputError(TOO_MANY_PEOPLE, f"{count} people > max_people_per_frame {self.max_people}")

    def check_heatmap(self, joints: int, height: int, width: int, who: str = "person") -> None:
        if joints * height * width > self.max_heatmap_values:
            raise BadInputError(TOO_LARGE_HEATMAP, f"{who}: heatmaps {joints}x{height}x{width} > "
                                                   f"max_heatmap_values {self.max_heatmap_values}")
