"""The four Human3.6M cameras: calibration constants (as in VideoPose3D's ``h36m_dataset.py``) and projection.

Extrinsics per subject: ``orientation`` is the camera-to-world rotation as a quaternion (w, x, y, z) and
``translation`` the camera centre in the world (millimetres here, metres in :class:`H36MCamera`), so
``X_cam = R^T (X_world - t)``. Distortion follows VideoPose3D's ``project_to_2d`` exactly (radial k1 k2 k3 and
its tangential p1 p2 convention, normalised coordinates clamped to [-1, 1]); it differs from OpenCV's plumb_bob
tangential term, so :meth:`H36MCamera.project` and :meth:`H36MCamera.undistort` are used rather than
:meth:`PinholeCamera.distort`. World frame: z up, millimetres in the tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.camera import PinholeCamera
from ..core.gravity import quaternion_to_matrix

CAMERA_IDS: tuple[str, ...] = ("54138969", "55011271", "58860488", "60457274")

# id -> (fx, fy, cx, cy, k1, k2, k3, p1, p2, width, height)
INTRINSICS: dict[str, tuple[float, ...]] = {
    "54138969": (1145.0494384765625, 1143.7811279296875, 512.54150390625, 515.4514770507812,
                 -0.20709891617298126, 0.24777518212795258, -0.0030751503072679043,
                 -0.0009756988729350269, -0.00142447161488235, 1000, 1002),
    "55011271": (1149.6756591796875, 1147.5916748046875, 508.8486328125, 508.0649108886719,
                 -0.1942136287689209, 0.2404085397720337, 0.006819975562393665,
                 -0.0016190266469493508, -0.0027408944442868233, 1000, 1000),
    "58860488": (1149.1407470703125, 1148.7989501953125, 519.8158569335938, 501.40264892578125,
                 -0.2083381861448288, 0.25548800826072693, -0.0024604974314570427,
                 0.0014843869721516967, -0.0007599993259645998, 1000, 1000),
    "60457274": (1145.5113525390625, 1144.77392578125, 514.9682006835938, 501.88201904296875,
                 -0.198384091258049, 0.21832367777824402, -0.008947807364165783,
                 -0.0005872055771760643, -0.0018133620033040643, 1000, 1002),
}

# subject -> per camera (in CAMERA_IDS order): (orientation w x y z, translation mm). S2-S4 have no 3D data.
EXTRINSICS: dict[str, tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]] = {
    "S1": (
        ((0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
         (1841.1070556640625, 4955.28466796875, 1563.4454345703125)),
        ((0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
         (1761.278564453125, -5078.0068359375, 1606.2650146484375)),
        ((0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
         (-1846.7777099609375, 5215.04638671875, 1491.972412109375)),
        ((0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
         (-1794.7896728515625, -3722.698974609375, 1574.8927001953125)),
    ),
    "S5": (
        ((0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332),
         (2097.3916015625, 4880.94482421875, 1605.732421875)),
        ((0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915),
         (2031.7008056640625, -5167.93310546875, 1612.923095703125)),
        ((0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576),
         (-1620.5948486328125, 5171.65869140625, 1496.43701171875)),
        ((0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092),
         (-1637.1737060546875, -3867.3173828125, 1547.033203125)),
    ),
    "S6": (
        ((0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938),
         (1935.4517822265625, 4950.24560546875, 1618.0838623046875)),
        ((0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428),
         (1969.803955078125, -5128.73876953125, 1632.77880859375)),
        ((0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334),
         (-1769.596435546875, 5185.361328125, 1476.993408203125)),
        ((0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802),
         (-1721.668701171875, -3884.13134765625, 1540.4879150390625)),
    ),
    "S7": (
        ((0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778),
         (1974.512939453125, 4926.3544921875, 1597.8326416015625)),
        ((0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508),
         (1937.0584716796875, -5119.7900390625, 1631.5665283203125)),
        ((0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278),
         (-1741.8111572265625, 5208.24951171875, 1464.8245849609375)),
        ((0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523),
         (-1734.7105712890625, -3832.42138671875, 1548.5830078125)),
    ),
    "S8": (
        ((0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773),
         (2150.65185546875, 4896.1611328125, 1611.9046630859375)),
        ((0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615),
         (2219.965576171875, -5148.453125, 1613.0440673828125)),
        ((0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755),
         (-1571.2215576171875, 5137.0185546875, 1498.1761474609375)),
        ((0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708),
         (-1476.913330078125, -3896.7412109375, 1547.97216796875)),
    ),
    "S9": (
        ((0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243),
         (2044.45849609375, 4935.1171875, 1481.2275390625)),
        ((0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801),
         (1990.959716796875, -5123.810546875, 1568.8048095703125)),
        ((0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915),
         (-1670.9921875, 5211.98583984375, 1528.387939453125)),
        ((0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822),
         (-1696.04345703125, -3827.099853515625, 1591.4127197265625)),
    ),
    "S11": (
        ((0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467),
         (2098.440185546875, 4926.5546875, 1500.278564453125)),
        ((0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085),
         (2083.182373046875, -4912.1728515625, 1561.07861328125)),
        ((0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407),
         (-1609.8153076171875, 5177.3359375, 1537.896728515625)),
        ((0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809),
         (-1590.738037109375, -3854.1689453125, 1578.017578125)),
    ),
}


@dataclass(frozen=True)
class H36MCamera:
    """One calibrated camera of one subject (metres)."""

    camera_id: str
    fx: float
    fy: float
    cx: float
    cy: float
    radial: tuple[float, float, float]  # k1 k2 k3
    tangential: tuple[float, float]  # p1 p2 (VideoPose3D convention)
    width: int
    height: int
    rotation: np.ndarray  # [3, 3] camera -> world
    centre: np.ndarray  # [3] camera centre in the world, metres

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points ``[..., 3]`` (metres, z up) -> camera frame (x right, y down, z forward)."""
        return (np.asarray(points, dtype=np.float64) - self.centre) @ self.rotation

    def gravity(self) -> np.ndarray:
        """Unit gravity (world -z) in this camera's optical frame."""
        return np.array([0.0, 0.0, -1.0]) @ self.rotation

    def camera_to_world(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, dtype=np.float64) @ self.rotation.T + self.centre

    def project(self, points_camera: np.ndarray, distort: bool = True) -> np.ndarray:
        """Camera-frame points ``[..., 3]`` -> image px ``[..., 2]`` (VideoPose3D's ``project_to_2d``)."""
        p = np.asarray(points_camera, dtype=np.float64)
        xy = np.clip(p[..., :2] / p[..., 2:3], -1.0, 1.0)
        if distort:
            xy = self._distort_normalised(xy)
        return xy * np.array([self.fx, self.fy]) + np.array([self.cx, self.cy])

    def _distort_normalised(self, xy: np.ndarray) -> np.ndarray:
        k = np.asarray(self.radial)
        p = np.asarray(self.tangential)
        r2 = (xy**2).sum(-1, keepdims=True)
        radial = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
        tan = (p * xy).sum(-1, keepdims=True)
        return xy * (radial + tan) + p * r2

    def undistort(self, pixels: np.ndarray, iterations: int = 20) -> np.ndarray:
        """Distorted image px ``[..., 2]`` -> ideal pinhole px (fixed-point inversion of :meth:`project`)."""
        px = np.asarray(pixels, dtype=np.float64)
        f, c = np.array([self.fx, self.fy]), np.array([self.cx, self.cy])
        target = (px - c) / f
        xy = target.copy()
        for _ in range(iterations):
            xy = xy + (target - self._distort_normalised(xy))
        return xy * f + c

    def pinhole(self) -> PinholeCamera:
        """The distortion-free intrinsics (what the sampler projects with; pair with undistorted 2D input)."""
        return PinholeCamera(self.fx, self.fy, self.cx, self.cy, self.width, self.height)


def h36m_camera(subject: str, index: int) -> H36MCamera:
    """Camera ``index`` (0-3, CAMERA_IDS order) of ``subject`` (S1, S5-S9, S11)."""
    if subject not in EXTRINSICS:
        raise KeyError(f"no calibration for subject {subject!r} (have {sorted(EXTRINSICS)})")
    cam_id = CAMERA_IDS[index]
    fx, fy, cx, cy, k1, k2, k3, p1, p2, w, h = INTRINSICS[cam_id]
    quat, trans = EXTRINSICS[subject][index]
    return H36MCamera(cam_id, fx, fy, cx, cy, (k1, k2, k3), (p1, p2), int(w), int(h),
                      quaternion_to_matrix(quat), np.asarray(trans) / 1000.0)
