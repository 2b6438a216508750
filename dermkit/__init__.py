"""dermkit: faithful Keras 3 reimplementations of five dermoscopy deep-learning papers.

The top level is light: it imports neither TensorFlow nor Keras. Readers (``dermkit.data.isic``),
superpixel conversion (``dermkit.data.superpixels``) and NumPy metrics work without TensorFlow; models,
losses and pipelines import it on first use and say which extra to install when it is missing.
"""

from dermkit.errors import DermkitDataError, DermkitFileNotFoundError

__version__ = "0.1.0"

__all__ = ["__version__", "DermkitDataError", "DermkitFileNotFoundError"]
