"""Suite-wide settings."""

from __future__ import annotations

from hypothesis import settings

# CI machines are small and shared: a property test must fail on a wrong answer,
# never on a slow example.
settings.register_profile("jobico", deadline=None)
settings.load_profile("jobico")
