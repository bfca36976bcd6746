"""Packaging detail pyproject.toml cannot say: the wheel carries the shipped models.

The top-level ``checkpoints/`` folder stays the source of truth; it is installed as the data
package ``genrestore.shipped``, where ``genrestore.tasks.shipped`` finds the models. All
metadata lives in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["genrestore", "genrestore.*"]) + ["genrestore.shipped"],
    package_dir={"genrestore.shipped": "checkpoints"},
    package_data={"genrestore.shipped": ["*.safetensors", "*.json"]},
)
