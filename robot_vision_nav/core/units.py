"""Unit conversions, defined once.

Every module that turns seconds into nanoseconds or millimetres into metres uses these names. This
module must never import ROS.
"""

from __future__ import annotations

from typing import Final

NS_PER_S: Final = 1_000_000_000  # stamps and node clocks are integer nanoseconds
MM_PER_M: Final = 1000.0  # 16UC1 depth images are in millimetres
