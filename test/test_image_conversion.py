"""sensor_msgs/Image <-> numpy without cv_bridge: every encoding, padded rows, byte order, bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from diffpose_ros.core.input_limits import BadInputError, InputLimits
from diffpose_ros.ros.image_conversion import (
    ImageConversionError,
    compressed_msg_to_rgb,
    image_msg_to_rgb,
    image_to_numpy,
    numpy_to_image_fields,
)


@pytest.fixture(scope="module")
def messi_rgb(images_dir):
    return cv2.imread(str(images_dir / "messi5.jpg"))[..., ::-1].copy()


def _msg(arr: np.ndarray, encoding: str, pad: int = 0, big_endian: bool = False) -> Image:
    f = numpy_to_image_fields(arr, encoding)
    data = np.frombuffer(f["data"], np.uint8).reshape(f["height"], f["step"])
    if big_endian:
        itemsize = np.asarray(arr).itemsize
        data = data.reshape(f["height"], -1, itemsize)[..., ::-1].reshape(f["height"], f["step"])
        f["is_bigendian"] = 1
    if pad:
        data = np.concatenate([data, np.full((f["height"], pad), 0xAB, np.uint8)], axis=1)
        f["step"] += pad
    f["data"] = data.tobytes()
    return Image(**f)


@pytest.mark.parametrize("pad", [0, 7])
def test_colour_encodings_give_the_same_rgb(messi_rgb, pad):
    bgr = messi_rgb[..., ::-1]
    cases = {
        "rgb8": messi_rgb, "bgr8": bgr,
        "rgba8": np.dstack([messi_rgb, np.full(messi_rgb.shape[:2], 255, np.uint8)]),
        "bgra8": np.dstack([bgr, np.zeros(messi_rgb.shape[:2], np.uint8)]),
        "8UC3": messi_rgb,
    }
    for encoding, arr in cases.items():
        np.testing.assert_array_equal(image_msg_to_rgb(_msg(arr, encoding, pad)), messi_rgb, err_msg=encoding)


def test_grey_and_16bit_and_float(messi_rgb):
    grey = cv2.cvtColor(messi_rgb, cv2.COLOR_RGB2GRAY)
    out = image_msg_to_rgb(_msg(grey, "mono8", pad=3))
    assert out.shape == (*grey.shape, 3) and (out[..., 0] == grey).all() and (out[..., 2] == grey).all()
    grey16 = grey.astype(np.uint16) * 257
    for big in (False, True):
        np.testing.assert_array_equal(image_msg_to_rgb(_msg(grey16, "mono16", big_endian=big))[..., 1], grey)
    depth = np.linspace(0.5, 4.0, 12, dtype=np.float32).reshape(3, 4)
    raw = image_to_numpy(3, 4, "32FC1", 16, False, numpy_to_image_fields(depth, "32FC1")["data"])
    np.testing.assert_array_equal(raw, depth)


def test_yuv422_variants_match_opencv(messi_rgb):
    h, w = 64, 96
    rgb = np.ascontiguousarray(messi_rgb[100:100 + h, 200:200 + w])
    r, g, b = (rgb[..., i].astype(float) for i in range(3))  # BT.601 video range, as cameras send it
    y = np.round(16 + 0.257 * r + 0.504 * g + 0.098 * b).astype(np.uint8)
    u = np.round(128 - 0.148 * r - 0.291 * g + 0.439 * b)[:, ::2].astype(np.uint8)
    v = np.round(128 + 0.439 * r - 0.368 * g - 0.071 * b)[:, ::2].astype(np.uint8)
    uyvy = np.stack([np.repeat(u, 2, 1), y], axis=-1)
    uyvy[:, 1::2, 0] = v
    yuyv = uyvy[..., ::-1].copy()
    out_uyvy = image_msg_to_rgb(_msg(uyvy, "yuv422"))
    out_yuyv = image_msg_to_rgb(_msg(yuyv, "yuv422_yuy2"))
    assert np.abs(out_uyvy.astype(int) - rgb).mean() < 8  # chroma subsampling loses a little
    np.testing.assert_array_equal(out_uyvy, out_yuyv)


def test_compressed_jpeg_and_png(messi_rgb):
    for ext in (".png", ".jpg"):
        _ok, buf = cv2.imencode(ext, messi_rgb[..., ::-1])
        out = compressed_msg_to_rgb(CompressedImage(format=ext[1:], data=buf.tobytes()))
        assert out.shape == messi_rgb.shape
        assert np.abs(out.astype(int) - messi_rgb).mean() < (0.01 if ext == ".png" else 4)


@pytest.mark.parametrize("fields, message", [
    (dict(height=4, width=4, encoding="bayer_weird8", step=4, data=bytes(16)), "unsupported encoding"),
    (dict(height=0, width=4, encoding="rgb8", step=12, data=b""), "empty image"),
    (dict(height=4, width=4, encoding="rgb8", step=8, data=bytes(32)), "step"),
    (dict(height=4, width=4, encoding="rgb8", step=12, data=bytes(20)), r"expected step \* height"),
    (dict(height=4, width=4, encoding="rgb8", step=12, data=bytes(49)), r"expected step \* height"),
])
def test_bad_images_raise_clear_errors(fields, message):
    with pytest.raises(ImageConversionError, match=message) as err:
        image_msg_to_rgb(Image(**fields))
    assert err.value.reason == "bad_image"


def test_image_limits_are_checked_before_the_data():
    huge = Image(height=100000, width=100000, encoding="mono8", step=100000, data=b"")
    with pytest.raises(BadInputError, match="max_image_pixels") as err:
        image_msg_to_rgb(huge)
    assert err.value.reason == "too_many_pixels"
    limits = InputLimits(max_image_pixels=100, max_image_bytes=50)
    with pytest.raises(BadInputError, match="max_image_bytes") as err:
        image_msg_to_rgb(Image(height=8, width=8, encoding="mono8", step=8, data=bytes(64)), limits)
    assert err.value.reason == "too_many_bytes"


def test_garbage_compressed_image_raises():
    with pytest.raises(ImageConversionError, match="cannot decode"):
        compressed_msg_to_rgb(CompressedImage(format="jpeg", data=b"not a jpeg at all"))
    with pytest.raises(ImageConversionError, match="empty"):
        compressed_msg_to_rgb(CompressedImage(format="jpeg", data=b""))
