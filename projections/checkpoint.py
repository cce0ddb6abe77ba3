"""A follower's durable position, kept as a read-store checkpoint record."""

from __future__ import annotations

from projections.store import ReadStore


class ReadStoreCheckpoint:
    """The checkpoint as a read-store checkpoint record, saved on its own (no empty batches)."""

    def __init__(self, read: ReadStore, name: str) -> None:
        self._read = read
        self.name = name

    async def load(self) -> int:
        return await self._read.checkpoint(self.name)

    async def save(self, position: int) -> None:
        await self._read.save_checkpoint(self.name, position)

    async def rewind(self, position: int) -> None:
        """Move the checkpoint back (``save`` only moves it forward)."""
        await self._read.reset(self.name, [])
        await self.save(position)
