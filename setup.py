"""dermkit: faithful Keras 3 reimplementations of five dermoscopy deep-learning papers."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "dermkit" / "__init__.py").read_text()).group(1)

setup(
    name="dermkit",
    version=VERSION,
    description="Reimplementations of dermoscopy deep-learning papers on Keras 3 / TensorFlow, with their tables",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["dermkit", "dermkit.*"]),
    package_data={"dermkit": ["py.typed", "*.json", "**/*.json"]},
    install_requires=[
        "keras>=3.5,<4",
        "numpy>=1.26",
        "scikit-image>=0.22",
        "scikit-learn>=1.3",
        "scipy>=1.11",
        "opencv-python-headless>=4.8",
        "matplotlib>=3.7",
        "h5py>=3.9",
        "pandas>=2.0",
        "tqdm>=4.60",
        "pillow>=10.0",
    ],
    extras_require={
        # TensorFlow comes only through an extra so users choose their build.
        "cpu": ["tensorflow-cpu>=2.16,<2.22", "tensorboard>=2.16"],
        "gpu": ["tensorflow[and-cuda]>=2.16,<2.22", "tensorboard>=2.16"],
        "test": ["pytest>=8", "pytest-timeout>=2.2", "ruff>=0.5", "faiss-cpu>=1.7"],
        "faiss": ["faiss-cpu>=1.7"],
    },
    entry_points={"console_scripts": ["dermkit=dermkit.cli:main"]},
    license="MIT",
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Image Recognition",
        "Topic :: Scientific/Engineering :: Medical Science Apps.",
    ],
)
