"""Hostile inputs for the estimator node, each with the reason it must be dropped for.

Decompression bombs are built here: a PNG whose IDAT really inflates to the declared size (a repeated
full-flush deflate block of zeros, so a 20000x20000 bomb takes milliseconds and ~390 KB) and a JPEG whose frame
header declares 65000x65000.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from diffpose_msgs.msg import Keypoint2D, Observations2D, PersonObservation2D
from diffpose_ros.core import input_limits as R
from diffpose_ros.core import skeleton

# Limits the fuzzed nodes run with (small enough to make over-limit messages cheap to send).
LIMITS = {"max_image_pixels": 1_000_000, "max_image_bytes": 2_000_000, "max_people_per_frame": 16,
          "max_heatmap_values": 17 * 128 * 128}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int, rows_per_block: int = 100) -> bytes:
    """A valid all-black 8-bit grey PNG of ``width x height`` compressed ~1000:1."""
    assert height % rows_per_block == 0
    block = bytes((width + 1) * rows_per_block)  # each row: filter byte 0 + width zeros
    c = zlib.compressobj(9)
    head = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    mid = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)  # after a full flush every block compresses alike
    tail = c.flush()[:-4]
    adler = (((width + 1) * height % 65521) << 16) | 1  # adler32 of n zeros
    idat = head + mid * (height // rows_per_block - 1) + tail + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def jpeg_with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """``jpeg`` with its frame header (SOF0) patched to declare ``width x height``."""
    i = jpeg.index(b"\xff\xc0")
    return jpeg[:i + 5] + struct.pack(">HH", height, width) + jpeg[i + 9:]


def camera_info(k, width=640, height=480, model="plumb_bob", d=(0.0,) * 5, stamp=0) -> CameraInfo:
    info = CameraInfo(width=width, height=height, k=[float(v) for v in k], distortion_model=model,
                      d=[float(v) for v in d])
    info.header.stamp.sec = stamp
    return info


GOOD_K = (500.0, 0.0, 319.5, 0.0, 500.0, 239.5, 0.0, 0.0, 1.0)


def hostile_camera_infos(rng: np.random.Generator, n: int) -> list[tuple[CameraInfo, str]]:
    """Singular, NaN, negative, inconsistent CameraInfos: all bad_camera_info."""
    def variant(i: int) -> CameraInfo:
        k = list(GOOD_K)
        kind = i % 10
        if kind == 0:
            k = [0.0] * 9  # (and P empty) singular
        elif kind == 1:
            k[8] = 0.0  # last row zero: singular
        elif kind == 2:
            k[rng.integers(0, 9)] = float("nan")
        elif kind == 3:
            k[0] = -abs(rng.normal(500, 100))
        elif kind == 4:
            k[2] = float(rng.choice([-1e4, 5e3, 1e9]))  # principal point far outside the image
        elif kind == 5:
            return camera_info(k, width=0, height=int(rng.integers(0, 480)))
        elif kind == 6:
            return camera_info(k, d=(0.1, float("inf"), 0.0, 0.0, 0.0))
        elif kind == 7:
            return camera_info(k, d=tuple(rng.normal(size=int(rng.choice([1, 3, 7, 14])))))
        elif kind == 8:
            return camera_info(k, model="weird_model")
        else:
            k[0] = k[4] = float(rng.choice([1e-9, 1e12]))  # implausible focal length
        return camera_info(k)
    return [(variant(i), R.BAD_CAMERA_INFO) for i in range(n)]


def hostile_images(rng: np.random.Generator, n: int) -> list[tuple[Image, str]]:
    """Raw images with wrong step/size/encoding, huge dimensions, short or excess data."""
    big = bytes(LIMITS["max_image_bytes"] + 1000)

    def variant(i: int) -> tuple[Image, str]:
        w, h = int(rng.integers(1, 200)), int(rng.integers(1, 200))
        kind = i % 8
        if kind == 0:
            enc = "".join(rng.choice(list("abcxyz0189_"), size=int(rng.integers(0, 12))))
            return Image(height=h, width=w, encoding=enc, step=w, data=bytes(w * h)), R.BAD_IMAGE
        if kind == 1:
            return Image(height=0, width=w, encoding="rgb8", step=3 * w, data=b""), R.BAD_IMAGE
        if kind == 2:  # step smaller than a row
            return Image(height=h, width=w, encoding="rgb8", step=3 * w - 1, data=bytes((3 * w - 1) * h)), R.BAD_IMAGE
        if kind == 3:  # short data
            return Image(height=h, width=w, encoding="rgb8", step=3 * w, data=bytes(3 * w * h - 1)), R.BAD_IMAGE
        if kind == 4:  # excess data
            return Image(height=h, width=w, encoding="mono8", step=w, data=bytes(w * h + 7)), R.BAD_IMAGE
        if kind == 5:  # huge declared dimensions, tiny data
            hw = int(rng.choice([100_000, 2**31, 2**32 - 1]))
            return Image(height=hw, width=hw, encoding="rgb8", step=3 * hw % 2**32, data=bytes(64)), \
                R.TOO_MANY_PIXELS
        if kind == 6:  # consistent but over max_image_pixels
            return Image(height=1001, width=1000, encoding="mono8", step=1000, data=bytes(1000 * 1001)), \
                R.TOO_MANY_PIXELS
        if i % 40 == 7:  # a few messages over max_image_bytes (2 MB each over DDS)
            return Image(height=1, width=len(big), encoding="mono8", step=len(big), data=big), R.TOO_MANY_BYTES
        return Image(height=h, width=w, encoding="16UC1", step=w, data=bytes(w * h)), R.BAD_IMAGE
    return [variant(i) for i in range(n)]


def hostile_compressed(rng: np.random.Generator, n: int, jpeg: bytes, png: bytes) -> list[tuple[CompressedImage, str]]:
    """Garbage, truncated, other formats, and PNG/JPEG decompression bombs (valid ``jpeg``/``png`` as seeds)."""
    bomb = png_bomb(20000, 20000)
    bmp = cv2.imencode(".bmp", np.zeros((8, 8, 3), np.uint8))[1].tobytes()

    def variant(i: int) -> tuple[bytes, str]:
        kind = i % 9
        if kind == 0:
            return rng.bytes(int(rng.integers(1, 5000))), R.BAD_COMPRESSED_IMAGE
        if kind == 1:
            return bomb, R.TOO_MANY_PIXELS
        if kind == 2:
            side = int(rng.integers(1001, 65500))
            return jpeg_with_size(jpeg, side, side), R.TOO_MANY_PIXELS
        if kind == 3:  # truncated after the header: passes the header check, fails decoding
            return (png if i % 2 else jpeg)[:int(rng.integers(200, 2000))], R.BAD_COMPRESSED_IMAGE
        if kind == 4:
            return bmp, R.BAD_COMPRESSED_IMAGE
        if kind == 5:
            return jpeg_with_size(jpeg, 0, 100), R.BAD_COMPRESSED_IMAGE
        if kind == 6:  # PNG with a corrupted IHDR colour type
            return png[:25] + bytes([9]) + png[26:], R.BAD_COMPRESSED_IMAGE
        if kind == 7 and i % 36 == 7:
            return b"\x89PNG\r\n\x1a\n" + bytes(LIMITS["max_image_bytes"]), R.TOO_MANY_BYTES
        return b"", R.BAD_COMPRESSED_IMAGE
    out = []
    for i in range(n):
        data, reason = variant(i)
        out.append((CompressedImage(format="png" if data[:4] == b"\x89PNG" else "jpeg", data=data), reason))
    return out


def keypoint_person(uv: np.ndarray, track_id: int = 0, **fields) -> PersonObservation2D:
    person = PersonObservation2D(track_id=track_id, detection_score=0.9, keypoint_sigma_px=4.0, **fields)
    person.keypoints = [Keypoint2D(x=float(u), y=float(v), score=1.0) for u, v in uv]
    return person


def observations(people, joint_names=skeleton.JOINT_NAMES, stamp: int = 0) -> Observations2D:
    msg = Observations2D(joint_names=list(joint_names), people=list(people))
    msg.header.stamp.sec = stamp
    return msg


def hostile_observations(rng: np.random.Generator, n: int, uv: np.ndarray) -> list[tuple[Observations2D, str]]:
    """Too many people, huge/NaN/inf heatmaps, singular affines, inconsistent structure."""
    J, hm = len(skeleton.JOINT_NAMES), 32
    affine = [hm / 640, 0.0, 0.0, 0.0, hm / 640, 0.0]

    def heat_person(data: np.ndarray, aff=affine, encoding="logit", h=hm, w=hm) -> PersonObservation2D:
        return keypoint_person(uv, heatmap_height=h, heatmap_width=w, heatmaps=data.ravel().astype(np.float32),
                               heatmap_encoding=encoding, image_to_heatmap=[float(a) for a in aff])

    def variant(i: int) -> tuple[list, list, str]:
        names = skeleton.JOINT_NAMES
        kind = i % 12
        if kind == 0:
            count = 1000 if i % 48 == 0 else int(rng.integers(17, 60))
            return [keypoint_person(uv, t) for t in range(count)], names, R.TOO_MANY_PEOPLE
        if kind == 1:  # declared huge, no data
            return [heat_person(np.zeros(0), h=int(rng.integers(4096, 2**31)), w=4096)], names, R.TOO_LARGE_HEATMAP
        if kind == 2 and i % 48 == 2:  # real data, over the limit (17 x 130 x 130 floats)
            return [heat_person(np.zeros((J, 130, 130)), h=130, w=130)], names, R.TOO_LARGE_HEATMAP
        if kind in (2, 3):  # NaN / +inf inside a channel
            data = rng.normal(size=(J, hm, hm))
            data[int(rng.integers(0, J)), int(rng.integers(0, hm)), :5] = np.nan if kind == 2 else np.inf
            return [heat_person(data)], names, R.BAD_HEATMAP
        if kind == 4:  # negative probabilities
            return [heat_person(-np.abs(rng.normal(size=(J, hm, hm))), encoding="probability")], names, R.BAD_HEATMAP
        if kind == 5:
            aff = [0.0] * 6 if i % 2 else [1.0, 2.0, 0.0, 2.0, 4.0, 0.0]  # zero / rank-1
            return [heat_person(rng.normal(size=(J, hm, hm)), aff)], names, R.BAD_HEATMAP_AFFINE
        if kind == 6:
            aff = list(affine)
            aff[int(rng.integers(0, 6))] = float(rng.choice([np.nan, np.inf]))
            return [heat_person(rng.normal(size=(J, hm, hm)), aff)], names, R.BAD_HEATMAP_AFFINE
        if kind == 7:  # heatmaps length does not match H x W x J
            return [heat_person(rng.normal(size=J * hm * hm - 1))], names, R.BAD_OBSERVATIONS
        if kind == 8:  # keypoint count does not match joint_names
            return [keypoint_person(uv[:int(rng.integers(0, J))])], names, R.BAD_OBSERVATIONS
        if kind == 9:
            return [heat_person(rng.normal(size=(J, hm, hm)), encoding="sigmoid")], names, R.BAD_OBSERVATIONS
        if kind == 10:  # names none of the estimator's joints / too many names
            bad = [f"j{k}" for k in range(J)] if i % 2 else [f"j{k}" for k in range(300)]
            return [keypoint_person(np.zeros((len(bad), 2)))], bad, R.BAD_OBSERVATIONS
        if i % 24 == 11:  # finite keypoints absurdly far outside the image
            return [keypoint_person(np.full((J, 2), float(rng.choice([1e7, -1e30]))))], names, R.BAD_OBSERVATIONS
        person = keypoint_person(uv)
        person.detection_score = float("nan")
        return [person], names, R.BAD_OBSERVATIONS
    out = []
    for i in range(n):
        people, names, reason = variant(i)
        out.append((observations(people, names), reason))
    return out
