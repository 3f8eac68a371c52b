"""Launch the diffpose_ros estimator: camera image in, multi-hypothesis 3D skeletons out.

    ros2 launch diffpose_ros estimator.launch.py image:=/camera/image_raw camera_info:=/camera/camera_info \
        [preset:=default|fast|accurate] [params_file:=my_estimator.yaml]
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("diffpose_ros")
    args = [
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node"),
        DeclareLaunchArgument("image", default_value="/camera/image_raw", description="sensor_msgs/Image topic"),
        DeclareLaunchArgument("camera_info", default_value="/camera/camera_info",
                              description="sensor_msgs/CameraInfo topic"),
        DeclareLaunchArgument("params_file", default_value=os.path.join(share, "config", "estimator.yaml"),
                              description="YAML with the estimator parameters"),
        DeclareLaunchArgument("preset", default_value="default",
                              description="sampler preset: default, fast (~0.6x the time) or accurate (~2x); sampler "
                                          "settings given in params_file win over it"),
        DeclareLaunchArgument("log_level", default_value="info", description="debug, info, warn, error"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock (bag replay)"),
    ]
    node = Node(
        package="diffpose_ros",
        executable="estimator_node",
        name="estimator",
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params_file"), {"preset": LaunchConfiguration("preset"),
                                                          "use_sim_time": LaunchConfiguration("use_sim_time")}],
        remappings=[("image", LaunchConfiguration("image")), ("camera_info", LaunchConfiguration("camera_info"))],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
        output="screen",
        emulate_tty=True,
    )
    return LaunchDescription([*args, node])
