"""Data layer: ISIC readers, superpixel conversion, synthetic data (NumPy only) and tf.data pipelines.

``dermkit.data.pipelines`` and ``dermkit.data.resize`` (the one image-resize rule) need TensorFlow and are
imported only when used. GAN batches and generated-image manifests: :mod:`dermkit.data.gan_data`.
"""
