# Type stub for the cffi-generated extension (native/build_validator.py):
# cffi objects are dynamic, and native/validator.py keeps them from escaping.
from typing import Any

ffi: Any
lib: Any
