"""Pauses that grow while nothing works out, with jitter so workers do not act in lockstep."""

from __future__ import annotations

import random


class Backoff:
    """Growing pauses with ±20 % jitter, so idle workers do not poll in lockstep."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial, self.maximum = initial, max(initial, maximum)
        self.current = initial

    def next(self) -> float:
        pause, self.current = self.current, min(self.maximum, self.current * 2)
        return pause * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.current = self.initial
