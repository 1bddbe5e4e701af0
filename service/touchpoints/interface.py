"""What other areas may use of the touchpoints: the journey's stages.

Pure: re-exports from the touchpoints' domain.
"""

from __future__ import annotations

from service.touchpoints.domain.journey import Stage

__all__ = ["Stage"]
