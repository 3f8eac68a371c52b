"""ament_python build of diffpose_ros (colcon, or `pip install .` outside ROS)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "diffpose_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={f"{PACKAGE}.prior": ["weights/*.pt", "weights/*.md"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
        (f"share/{PACKAGE}/rviz", glob("rviz/*.rviz")),
        (f"share/{PACKAGE}/models", glob("models/*.tflite")),
        (f"share/{PACKAGE}/sample/vtest_walkers", glob("sample/vtest_walkers/*")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="diffpose_ros maintainers",
    maintainer_email="maintainers@diffpose-ros.invalid",
    description="Multi-hypothesis 3D human pose estimation: a 3D pose diffusion prior guided by 2D heatmaps.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "estimator_node = diffpose_ros.ros.estimator_node:main",
            "bag_player = diffpose_ros.tools.bag_player:main",
            "bag_recorder = diffpose_ros.tools.bag_recorder:main",
            "video_to_bag = diffpose_ros.tools.video_to_bag:main",
            "render_hypotheses = diffpose_ros.tools.render_hypotheses:main",
        ],
    },
)
