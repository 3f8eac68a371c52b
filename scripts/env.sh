# Source this (bash) after scripts/setup.sh: venv, ROS 2 environment, DDS settings. Safe under `set -u`.
_DP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_DP_VENV=${DIFFPOSE_VENV:-$_DP_ROOT/.venv}
export VIRTUAL_ENV="$_DP_VENV"
export PATH="$_DP_VENV/bin:$PATH"
export AMENT_PREFIX_PATH="$_DP_VENV"
export CMAKE_PREFIX_PATH="$_DP_VENV"
# Keep DDS discovery on this machine (ROS_LOCALHOST_ONLY is ignored by Kilted).
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
# Larger shared-memory segments, so best-effort 640x480+ images are delivered.
export FASTDDS_DEFAULT_PROFILES_FILE=${FASTDDS_DEFAULT_PROFILES_FILE:-$_DP_ROOT/config/fastdds_shm.xml}
if [ -f "$_DP_ROOT/install/setup.bash" ]; then
  _dp_nounset=0; case $- in *u*) _dp_nounset=1; set +u;; esac
  # shellcheck disable=SC1091
  source "$_DP_ROOT/install/setup.bash"
  [ "$_dp_nounset" = 1 ] && set -u
  unset _dp_nounset
fi
unset _DP_ROOT _DP_VENV
