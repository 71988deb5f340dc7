"""Declares the cffi extension so that `pip install -e .` compiles the native validator.

Everything else about the package lives in pyproject.toml; setuptools has no
declarative key for cffi_modules, which is why this file exists at all.
"""

from setuptools import setup

setup(cffi_modules=["native/build_validator.py:ffibuilder"])
