"""Who is calling: the authenticated principal that every port hands to the core."""

from adapters.security.principal import Principal

__all__ = ["Principal"]
