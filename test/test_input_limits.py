"""Input limits and validation before allocation: image headers, bombs, camera intrinsics, affines, reconfigure."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hostile_messages import GOOD_K, camera_info, hostile_camera_infos, jpeg_with_size, png_bomb
from sensor_msgs.msg import CompressedImage

from diffpose_ros.core.camera import validate_affine, validate_intrinsics
from diffpose_ros.core.image_header import read_image_header
from diffpose_ros.core.input_limits import BadInputError, InputLimits
from diffpose_ros.ros.conversions import camera_from_info
from diffpose_ros.ros.image_conversion import compressed_msg_to_rgb


@pytest.fixture(scope="module")
def messi_bgr(images_dir):
    return cv2.imread(str(images_dir / "messi5.jpg"))


@pytest.mark.parametrize("ext, channels", [(".png", 3), (".jpg", 3)])
def test_header_size_matches_the_decoded_image(messi_bgr, ext, channels):
    for img in (messi_bgr, messi_bgr[:101, :77], cv2.cvtColor(messi_bgr, cv2.COLOR_BGR2GRAY)):
        data = cv2.imencode(ext, img)[1].tobytes()
        header = read_image_header(data)
        assert (header.height, header.width) == img.shape[:2]
        assert header.channels == (1 if img.ndim == 2 else channels)


def test_png_bomb_is_real_and_refused_from_its_header():
    small = png_bomb(3000, 3000)  # the same construction, small enough to decode here
    decoded = cv2.imdecode(np.frombuffer(small, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.shape == (3000, 3000) and not decoded.any() and len(small) < 20_000
    bomb = png_bomb(20000, 20000)
    assert len(bomb) < 500_000 and read_image_header(bomb).width == 20000
    with pytest.raises(BadInputError, match="max_image_pixels") as err:
        compressed_msg_to_rgb(CompressedImage(format="png", data=bomb), InputLimits(max_image_pixels=4096 * 4096))
    assert err.value.reason == "too_many_pixels"


def test_jpeg_frame_header_is_read_and_bad_data_refused(messi_bgr):
    jpeg = cv2.imencode(".jpg", messi_bgr)[1].tobytes()
    header = read_image_header(jpeg_with_size(jpeg, 65000, 40000))
    assert (header.format, header.width, header.height) == ("jpeg", 65000, 40000)
    with pytest.raises(BadInputError) as err:
        compressed_msg_to_rgb(CompressedImage(format="jpeg", data=jpeg_with_size(jpeg, 65000, 40000)))
    assert err.value.reason == "too_many_pixels"
    bmp = cv2.imencode(".bmp", messi_bgr)[1].tobytes()
    for data in (bmp, jpeg[:100], jpeg_with_size(jpeg, 0, 10), b"\xff\xd8\xff\xd9", b"\x89PNG\r\n\x1a\n"):
        with pytest.raises(BadInputError) as err:
            compressed_msg_to_rgb(CompressedImage(format="jpeg", data=data))
        assert err.value.reason == "bad_compressed_image"
    with pytest.raises(BadInputError, match="cannot decode") as err:  # header fine, data truncated
        compressed_msg_to_rgb(CompressedImage(format="jpeg", data=jpeg[:2000]))
    assert err.value.reason == "bad_compressed_image"


def test_intrinsics_are_validated_as_a_whole():
    validate_intrinsics(GOOD_K, 640, 480, "plumb_bob", [0.1, -0.2, 0.0, 0.0, 0.01])
    validate_intrinsics(GOOD_K, 640, 480, "", [])
    validate_intrinsics(GOOD_K, 640, 480, "rational_polynomial", [0.0] * 8)
    bad = {
        "not an invertible pinhole": dict(k=[0.0] * 9),
        "not an invertible": dict(k=[*GOOD_K[:8], 0.0]),
        "not finite": dict(k=[np.nan, *GOOD_K[1:]]),
        "fx, fy > 0": dict(k=[-500.0, *GOOD_K[1:]]),
        "principal point": dict(k=[*GOOD_K[:2], 5000.0, *GOOD_K[3:]]),
        "implausible": dict(k=[1e-6, 0, 319.5, 0, 1e-6, 239.5, 0, 0, 1]),
        "skew": dict(k=[500.0, 50.0, *GOOD_K[2:]]),
        "image size": dict(width=0),
        "takes 5 coefficients": dict(d=[0.1, 0.2]),
        "D is not finite": dict(d=[0.1, np.inf, 0, 0, 0]),
        "unknown distortion_model": dict(model="fisheye9"),
    }
    for message, change in bad.items():
        args = {"k": GOOD_K, "width": 640, "height": 480, "model": "plumb_bob", "d": [0.0] * 5, **change}
        with pytest.raises(ValueError, match=message):
            validate_intrinsics(args["k"], args["width"], args["height"], args["model"], args["d"])


def test_camera_info_refusals_carry_the_reason():
    camera = camera_from_info(camera_info(GOOD_K))
    assert (camera.fx, camera.cx, camera.width) == (500.0, 319.5, 640)
    for info, reason in hostile_camera_infos(np.random.default_rng(0), 20):
        with pytest.raises(BadInputError) as err:
            camera_from_info(info)
        assert err.value.reason == reason


def test_affines_must_be_finite_and_invertible():
    assert validate_affine([0.1, 0, 3, 0, 0.1, 4]).shape == (2, 3)
    for affine in ([0] * 6, [1, 2, 0, 2, 4, 0], [np.nan, 0, 0, 0, 1, 0], [1, 0, np.inf, 0, 1, 0], [1, 0, 0]):
        with pytest.raises(ValueError):
            validate_affine(affine)


def test_reconfigure_changes_the_running_estimator():
    from diffpose_ros.detector.base import keypoints_to_heatmaps
    from diffpose_ros.estimator import EstimatorConfig, PoseEstimator

    est = PoseEstimator(EstimatorConfig(num_hypotheses=4, num_steps=3))
    camera = camera_from_info(camera_info(GOOD_K))
    uv = np.column_stack([np.linspace(300, 340, 17), np.linspace(150, 330, 17)])
    obs = keypoints_to_heatmaps(uv, np.ones(17), (480, 640))
    assert est.estimate_from_observations([obs], camera).people[0].hypotheses.shape == (4, 17, 3)
    est.reconfigure(num_hypotheses=6, num_steps=2, eta=0.0, max_people_per_frame=1)
    assert est.sampler.num_steps == 2 and est.sampler.eta == 0.0
    assert est.estimate_from_observations([obs], camera).people[0].hypotheses.shape == (6, 17, 3)
    with pytest.raises(BadInputError, match="max_people_per_frame") as err:
        est.estimate_from_observations([obs, obs], camera)
    assert err.value.reason == "too_many_people"
    with pytest.raises(ValueError, match="cannot change device"):
        est.reconfigure(device="cuda", num_hypotheses=2)
    assert est.config.num_hypotheses == 6


def test_detector_output_is_cut_and_thresholds_change_live(images_dir):
    """basketball2.png has two players: max_people_per_frame=1 keeps the more confident one."""
    from diffpose_ros.core.camera import PinholeCamera
    from diffpose_ros.estimator import EstimatorConfig, PoseEstimator

    rgb = np.ascontiguousarray(cv2.imread(str(images_dir / "basketball2.png"))[..., ::-1])
    camera = PinholeCamera.from_fov(rgb.shape[1], rgb.shape[0], 60.0)
    est = PoseEstimator(EstimatorConfig(num_hypotheses=2, num_steps=2, tracking=False, detector_threads=1,
                                        max_people_per_frame=1))
    frame = est.estimate(rgb, camera)
    assert len(frame.people) == 1 and frame.people_cut == 1
    scores = sorted(o.score for o in est.detector.detect(rgb))
    assert frame.people[0].detection_score == pytest.approx(scores[-1])
    est.reconfigure(min_presence=1.01 * scores[-1])  # above both players' presence: nobody left
    assert est.detector.config.presence_threshold == pytest.approx(1.01 * scores[-1])
    assert est.estimate(rgb, camera).people == []
    est.reconfigure(min_presence=0.5, max_people_per_frame=4)
    assert len(est.estimate(rgb, camera).people) == 2
