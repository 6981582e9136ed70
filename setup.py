# cffi_modules is a setup() keyword that pyproject.toml cannot express yet.
from setuptools import setup

setup(cffi_modules=["build_ffi.py:ffibuilder"])
