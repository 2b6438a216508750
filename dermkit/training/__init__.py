"""Training: the shared experiment runner, strategies, callbacks and trainers.

Needs TensorFlow; submodules are imported on use (the GAN trainer: :mod:`dermkit.training.gan`).
"""
