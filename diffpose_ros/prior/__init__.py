"""3D human pose prior: an unconditional diffusion model over H36M-17 poses, trained on mocap.

Modules (one job each):

* ``bvh`` - BVH reader and vectorised forward kinematics;
* ``rig_mapping`` - Bandai-Namco / Character Creator (CMU) rigs -> H36M-17, metres, canonical camera axes;
* ``position_mocap`` - joint-position npz files (CMU exp-map positions, DeepMimic) -> H36M-17, bone rescaling;
* ``h36m_npz`` - VideoPose3D ``data_3d_h36m.npz`` loader;
* ``mocap`` - sources, per-take split, frame subsampling, per-source npz cache;
* ``augment`` - on-the-fly training augmentation;
* ``network`` (denoiser), ``diffusion`` (noise schedule, loss), ``trainer`` (loop, EMA, checkpoints);
* ``pose_prior`` - :class:`PosePrior`, the interface the guided sampler uses, and the shipped weights;
* ``generate`` - unguided sampling + CLI; ``sample_quality`` / ``benchmark`` - sample-quality metrics;
  ``source_report`` - held-out coverage per mocap source;
* ``plotting`` - skeleton grids.
"""
