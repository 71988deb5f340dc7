"""Tests of the compiled C validator (marker: native)."""
