"""Builds the compiled n-gram scorer in place: ``python setup.py build_ext --inplace``
(``make install`` does). Without it the service scores with the same features in Python."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("service.analysis._ngrams", ["service/analysis/_ngrams.c"],
                             extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers"])])
