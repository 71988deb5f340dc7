"""Build-time only: declares the cffi extension ``native._validator``.

setup.py names this file in ``cffi_modules``, so ``pip install -e .`` (and a
wheel build) compiles the C validator with no extra step. It follows
cryptography's ``_cffi_src/build_*.py``: the cdef is the public header itself
(the part between the CARELOG_CDEF markers, preprocessor lines dropped), so the
declarations cannot drift from what the C code compiles against.

Out-of-line API mode: cffi generates a C extension that calls the functions
directly (no libffi at run time), and every call it generates releases the GIL
around the C function (``Py_BEGIN_ALLOW_THREADS`` in the generated
``_cffi_f_*`` wrappers; documented in cffi since 0.3). The validator keeps no
global state, so threads really do validate in parallel.

Paths are relative to the project root because setuptools runs this from
there and rejects absolute source paths; run directly
(``python native/build_validator.py``) it changes to the root first and builds
the module in place.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cffi import FFI

_ROOT = Path(__file__).resolve().parent.parent
_HEADER = _ROOT / "native" / "include" / "carelog_validator.h"
_BEGIN = "/* CARELOG_CDEF_BEGIN */"
_END = "/* CARELOG_CDEF_END */"

SOURCES = [
    "native/src/datetime.c",
    "native/src/escape.c",
    "native/src/profile.c",
    "native/src/rules.c",
    "native/src/structure.c",
    "native/src/validator.c",
]
INCLUDE_DIRS = ["native/include"]
EXTRA_COMPILE_ARGS = ["-O3", "-Wall", "-Wextra", "-Werror", "-std=c99"]


def read_cdef(header: Path = _HEADER) -> str:
    """The cdef part of the header: the text between the markers, minus ``#`` lines."""
    text = header.read_text(encoding="utf-8")
    try:
        body = text.split(_BEGIN, 1)[1].split(_END, 1)[0]
    except IndexError:
        raise RuntimeError(f"{header}: missing {_BEGIN} / {_END} markers") from None
    lines = [line for line in body.splitlines() if not line.lstrip().startswith("#")]
    return "\n".join(lines)


ffibuilder = FFI()
ffibuilder.cdef(read_cdef())
ffibuilder.set_source(
    "native._validator",
    '#include "carelog_validator.h"',
    sources=SOURCES,
    include_dirs=INCLUDE_DIRS,
    extra_compile_args=EXTRA_COMPILE_ARGS,
)


SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
_SANITIZE_COMPILE = [
    "-O1",
    "-g",
    "-fno-omit-frame-pointer",
    *EXTRA_COMPILE_ARGS[1:],
    *SANITIZE_FLAGS,
]


def sanitized(out: Path) -> Path:
    """Build an ASan/UBSan variant of the extension under out; return the package dir.

    native/sanitize.sh puts out/pkg first on PYTHONPATH, so the Python tests
    import this build (out/pkg/native links back to the real .py files).
    """
    builder = FFI()
    builder.cdef(read_cdef())
    builder.set_source(
        "native._validator",
        '#include "carelog_validator.h"',
        sources=[str(_ROOT / s) for s in SOURCES],
        include_dirs=[str(_ROOT / d) for d in INCLUDE_DIRS],
        extra_compile_args=_SANITIZE_COMPILE,
        extra_link_args=SANITIZE_FLAGS,
    )
    built = Path(builder.compile(tmpdir=str(out / "build")))
    package = out / "pkg" / "native"
    package.mkdir(parents=True, exist_ok=True)
    for source in (_ROOT / "native").glob("*.py"):
        link = package / source.name
        link.unlink(missing_ok=True)
        link.symlink_to(source)
    target = package / built.name
    target.unlink(missing_ok=True)
    built.rename(target)
    return package


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--sanitize":
        print(sanitized(Path(sys.argv[2]).resolve()))
        sys.exit(0)
    # cffi resolves the relative sources against tmpdir, so build from the root
    # itself; the module lands in native/ and the objects are removed after.
    os.chdir(_ROOT)
    ffibuilder.compile(tmpdir=".", verbose="-v" in sys.argv)
    for obj in [*Path("native").glob("*.o"), *Path("native/src").glob("*.o")]:
        obj.unlink()
