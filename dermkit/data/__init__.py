"""Data layer: ISIC readers, superpixel conversion, synthetic data (NumPy only) and tf.data pipelines.

``dermkit.data.pipelines`` needs TensorFlow and is imported only when used.
"""
