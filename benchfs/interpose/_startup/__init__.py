"""The directory ``benchfs run`` puts first on PYTHONPATH: it holds only sitecustomize.py.

A package so that it is installed with benchfs; the interpreter imports its
``sitecustomize`` as a top-level module.
"""
