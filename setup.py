"""Declares the cffi extension and ships the message profiles inside the package.

Everything else about the package lives in pyproject.toml. setuptools has no
declarative key for cffi_modules, which is why this file exists at all; the
profiles live at the top of the repository (``schemas/hl7v2``, data that users
edit), outside any package, so the build copies them to ``native/schemas`` where
an installed carelog finds them (``native.profiles.DEFAULT_SCHEMAS``).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithSchemas(build_py):
    """build_py, plus schemas/ copied to native/schemas/ in the build tree."""

    def run(self) -> None:
        super().run()
        source = Path(__file__).resolve().parent / "schemas"
        target = Path(self.build_lib) / "native" / "schemas"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))


setup(
    cffi_modules=["native/build_validator.py:ffibuilder"],
    cmdclass={"build_py": BuildWithSchemas},
)
