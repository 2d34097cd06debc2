"""The local Amazon Cognito user pool emulator (the embedded default identity provider)."""

from __future__ import annotations

from ..pooldesc import PoolDescription, load_pool, validate_pool
from .process import LocalCognito, RunningPool

__all__ = ["LocalCognito", "PoolDescription", "RunningPool", "load_pool", "validate_pool"]
