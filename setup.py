"""Build the compiled kernel against numpy's headers and numpy's random C library.

The kernel draws its random numbers from a numpy BitGenerator through ``npyrandom``
(the static library numpy ships for exactly this, as in numpy/random/_examples/cython).
There is no pure-Python fallback: if the extension cannot be built, installation fails.
"""
import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

NP_ROOT = os.path.dirname(np.__file__)
NP_INCLUDE = np.get_include()
NP_LIBDIRS = [
    os.path.join(NP_ROOT, "random", "lib"),
    os.path.join(NP_ROOT, "_core", "lib"),
]

# Compiler directives live here, in one place, for every .pyx in the project.
DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
    "nonecheck": False,
    "embedsignature": True,
}

# -O3 but no -ffast-math: the kernel must reproduce its Python twin bit for bit, so
# floating-point contraction (FMA) is switched off too. No -march=native in the default build
# (SIMRISK_NATIVE=1 opts in). Measured on the kernel (docs/performance.md): -march=x86-64-v2
# (numpy 2.4's own baseline) or -v3, -fno-plt, -fno-semantic-interposition gain nothing
# measurable, so the default stays portable.
CFLAGS = ["-O3", "-ffp-contract=off", "-fno-math-errno"]
if os.environ.get("SIMRISK_NATIVE"):
    CFLAGS.append("-march=native")

extensions = [
    Extension(
        "simcore._kernel",
        ["simcore/_kernel.pyx"],
        include_dirs=[NP_INCLUDE, "simcore"],    # _ziggurat.h, _pcg64.h: numpy's, inline
        depends=["simcore/_kernel.pxd", "simcore/_ziggurat.h", "simcore/_pcg64.h"],
        library_dirs=NP_LIBDIRS,
        libraries=["npyrandom", "npymath", "m"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
        extra_compile_args=CFLAGS,
    )
]

setup(ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES))
