"""Handlers: each one reads like its use case and commits only at the unit-of-work boundary."""

from __future__ import annotations
