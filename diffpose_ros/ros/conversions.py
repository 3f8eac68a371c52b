"""Core estimator results <-> diffpose_msgs / sensor_msgs messages."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from geometry_msgs.msg import Point
from std_msgs.msg import Header

from diffpose_msgs.msg import Keypoint2D, PersonHypotheses, PoseHypotheses, Skeleton3D
from diffpose_ros.core import skeleton
from diffpose_ros.core.camera import PinholeCamera, validate_affine, validate_intrinsics
from diffpose_ros.core.input_limits import (
    BAD_CAMERA_INFO,
    BAD_HEATMAP,
    BAD_HEATMAP_AFFINE,
    BAD_OBSERVATIONS,
    MAX_JOINT_NAMES,
    BadInputError,
    InputLimits,
)

HEATMAP_ENCODINGS = ("logit", "probability")
FAR_KEYPOINT_FACTOR = 10  # keypoints beyond this many image sizes from the origin are refused (no person is there)


def points_msg(xyz: np.ndarray) -> list[Point]:
    """``[N, 3]`` -> ``geometry_msgs/Point`` list (python floats in one go: cheaper than per element)."""
    return [Point(x=x, y=y, z=z) for x, y, z in np.asarray(xyz, dtype=np.float64).reshape(-1, 3).tolist()]


def skeleton_msg(joints: np.ndarray, weight: float) -> Skeleton3D:
    return Skeleton3D(joints=points_msg(joints), weight=float(weight))


def pose_hypotheses_msg(header: Header, people, num_steps: int) -> PoseHypotheses:
    """A frame's PersonEstimates -> PoseHypotheses (header copied from the image)."""
    msg = PoseHypotheses(header=header, skeleton=skeleton.NAME, joint_names=list(skeleton.JOINT_NAMES),
                         joint_parents=list(skeleton.PARENTS), num_steps=int(num_steps))
    for p in people:
        person = PersonHypotheses(track_id=int(p.track_id), detection_score=float(p.detection_score),
                                  translation_is_metric=bool(p.translation_is_metric))
        person.keypoints = [Keypoint2D(x=x, y=y, score=s) for (x, y), s in zip(
            np.asarray(p.keypoints, dtype=np.float64).tolist(), np.asarray(p.keypoint_scores, np.float64).tolist())]
        person.hypotheses = [skeleton_msg(h, w) for h, w in zip(p.hypotheses, p.weights)]
        person.mean = skeleton_msg(p.mean, 1.0)
        person.joint_spread = np.asarray(p.spread, dtype=np.float64).tolist()
        msg.people.append(person)
    return msg


def camera_from_info(msg) -> PinholeCamera:
    """sensor_msgs/CameraInfo -> PinholeCamera (uses P for rectified images when K is empty).

    K, D and the image size are validated as a whole (``validate_intrinsics``); BadInputError otherwise.
    """
    k = np.asarray(msg.k, dtype=np.float64)
    if not np.any(k) and np.any(msg.p):
        p = np.asarray(msg.p, dtype=np.float64).reshape(3, 4)
        k = p[:, :3].ravel()
    try:
        validate_intrinsics(k, int(msg.width), int(msg.height), msg.distortion_model, msg.d)
    except ValueError as exc:
        raise BadInputError(BAD_CAMERA_INFO, f"camera_info: {exc}") from exc
    distortion = tuple(msg.d) if msg.distortion_model in ("plumb_bob", "rational_polynomial") else ()
    return PinholeCamera.from_k(k, msg.width, msg.height, distortion)


def check_observations_msg(msg, limits: InputLimits) -> None:
    """Refuse an Observations2D over the limits or inconsistent in structure, reading no heatmap values."""
    limits.check_people(len(msg.people))
    n_src = len(msg.joint_names)
    if not 0 < n_src <= MAX_JOINT_NAMES:
        raise BadInputError(BAD_OBSERVATIONS, f"Observations2D names {n_src} joints (1..{MAX_JOINT_NAMES})")
    for person in msg.people:
        who = f"person {person.track_id}"
        if len(person.keypoints) != n_src:
            raise BadInputError(BAD_OBSERVATIONS, f"{who}: {len(person.keypoints)} keypoints for {n_src} joint names")
        if not (math.isfinite(person.detection_score) and math.isfinite(person.keypoint_sigma_px)
                and person.keypoint_sigma_px >= 0):
            raise BadInputError(BAD_OBSERVATIONS, f"{who}: detection_score {person.detection_score} / "
                                                  f"keypoint_sigma_px {person.keypoint_sigma_px} invalid")
        h, w = int(person.heatmap_height), int(person.heatmap_width)
        if not (h and w):
            continue
        limits.check_heatmap(n_src, h, w, who)
        if len(person.heatmaps) != n_src * h * w:
            raise BadInputError(BAD_OBSERVATIONS, f"{who}: heatmaps has {len(person.heatmaps)} values, expected "
                                                  f"{n_src}x{h}x{w}")
        if (person.heatmap_encoding or "logit") not in HEATMAP_ENCODINGS:
            raise BadInputError(BAD_OBSERVATIONS, f"{who}: unknown heatmap_encoding {person.heatmap_encoding!r} "
                                                  f"({' or '.join(HEATMAP_ENCODINGS)})")
        try:
            validate_affine(person.image_to_heatmap, f"{who}: image_to_heatmap")
        except ValueError as exc:
            raise BadInputError(BAD_HEATMAP_AFFINE, str(exc)) from exc


def _check_heatmap_values(maps: np.ndarray, encoding: str, who: str) -> None:
    """Each channel all NaN (joint not observed) or all usable: finite (or -inf logits), probabilities >= 0."""
    nan = np.isnan(maps)
    partly_nan = nan.any(axis=(1, 2)) & ~nan.all(axis=(1, 2))
    bad = partly_nan | np.isposinf(maps).any(axis=(1, 2))
    if encoding == "probability":
        bad |= (np.isneginf(maps) | (maps < 0)).any(axis=(1, 2))
    if bad.any():
        raise BadInputError(BAD_HEATMAP, f"{who}: heatmap channels {np.flatnonzero(bad)[:10].tolist()} hold NaN, "
                                         f"+inf or negative probabilities (a whole-NaN channel = not observed)")


def observations_from_msg(msg, camera: PinholeCamera, joint_names=skeleton.JOINT_NAMES,
                          default_sigma_px: float = 8.0, limits: "InputLimits | None" = None):
    """diffpose_msgs/Observations2D -> list of PersonObservation in the estimator's joint order.

    Joints the message does not name are left unobserved. Heatmaps given as probabilities are turned into
    log-probabilities; keypoint-only people get Gaussian heatmaps rendered from their keypoints. A message over
    ``limits``, inconsistent, with keypoints absurdly far outside the image or with broken heatmaps raises
    BadInputError.
    """
    from diffpose_ros.detector.base import PersonObservation, keypoints_to_heatmaps, log_softmax_heatmaps

    check_observations_msg(msg, limits or InputLimits())
    index = {name: i for i, name in enumerate(msg.joint_names)}
    missing = [n for n in joint_names if n not in index]
    if len(missing) == len(joint_names):
        raise BadInputError(BAD_OBSERVATIONS, f"Observations2D names none of the estimator's joints: "
                                              f"{list(msg.joint_names)[:20]}")
    order = [index.get(n, -1) for n in joint_names]
    far = FAR_KEYPOINT_FACTOR * max(camera.width or 640, camera.height or 480)
    out: list[PersonObservation] = []
    for person in msg.people:
        kp = np.full((len(joint_names), 2), np.nan)
        sc = np.zeros(len(joint_names))
        for j, src in enumerate(order):
            if src >= 0:
                k = person.keypoints[src]
                if math.isfinite(k.x) and math.isfinite(k.y):
                    kp[j], sc[j] = (k.x, k.y), float(np.clip(k.score, 0.0, 1.0)) if math.isfinite(k.score) else 0.0
        if np.nanmax(np.abs(kp), initial=0.0) > far:
            raise BadInputError(BAD_OBSERVATIONS, f"person {person.track_id}: keypoints more than {far:.0f} px "
                                                  f"from the image")
        h, w = int(person.heatmap_height), int(person.heatmap_width)
        if h and w:
            n_src = len(msg.joint_names)
            src_maps = np.asarray(person.heatmaps, dtype=np.float32).reshape(n_src, h, w)
            encoding = person.heatmap_encoding or "logit"
            _check_heatmap_values(src_maps, encoding, f"person {person.track_id}")
            maps = np.full((len(joint_names), h, w), np.nan, dtype=np.float32)
            for j, src in enumerate(order):
                if src >= 0:
                    maps[j] = src_maps[src]
            if encoding == "probability":  # NaN stays NaN (joint unusable); zeros become very unlikely
                maps = np.log(np.clip(maps, 1e-30, None))
            logp, has = log_softmax_heatmaps(maps)
            affine = validate_affine(person.image_to_heatmap)
            out.append(PersonObservation(keypoints=kp, scores=sc * has, heatmaps=logp, has_heatmap=has,
                                         image_to_heatmap=affine, box=_box(kp), score=float(person.detection_score),
                                         track_id=int(person.track_id)))
        else:
            obs = keypoints_to_heatmaps(kp, sc, (camera.height or 480, camera.width or 640),
                                        sigma_px=float(person.keypoint_sigma_px) or default_sigma_px,
                                        box=_box(kp), score=float(person.detection_score))
            out.append(dataclasses.replace(obs, track_id=int(person.track_id)))
    return out


def _box(kp: np.ndarray) -> np.ndarray:
    ok = np.isfinite(kp).all(axis=1)
    if not ok.any():
        return np.zeros(4)
    return np.concatenate([kp[ok].min(axis=0), kp[ok].max(axis=0)])
