"""The native HL7 v2 validator: C rules behind a typed Python wrapper.

Importing this package loads the compiled extension and checks its version;
it raises ImportError with a rebuild hint when the build is missing or stale.
"""

from __future__ import annotations

from native.validator import NativeMessageValidator

__all__ = ["NativeMessageValidator"]
