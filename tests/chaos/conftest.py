from __future__ import annotations

from tests.e2e.conftest import module_platform_factory, platform, platform_factory

__all__ = ["module_platform_factory", "platform", "platform_factory"]
