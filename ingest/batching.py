"""When a batch is due. Pure. (How long to wait before a retry is citysense.backoff.)"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """A batch is written when it holds `max_messages` or its oldest message is `max_age_s` old."""

    max_messages: int
    max_age_s: float

    def __post_init__(self) -> None:
        if self.max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {self.max_messages}")
        if self.max_age_s <= 0:
            raise ValueError(f"max_age_s must be positive, got {self.max_age_s}")

    def due(self, size: int, oldest_arrival: float, now: float) -> bool:
        return size >= self.max_messages or (size > 0 and now - oldest_arrival >= self.max_age_s)

    def time_left(self, oldest_arrival: float, now: float) -> float:
        return max(0.0, self.max_age_s - (now - oldest_arrival))
