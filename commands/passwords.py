"""Memory-hard password hashing (Argon2id), always off the event loop."""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


def unusable_password_hash() -> str:
    """A random value no password verifies against (not a valid Argon2 hash), costing no hash."""
    return "!" + secrets.token_urlsafe(32)


class Passwords:
    """Hashes and verifies off the event loop, in two pools: logins (verify) have their own
    workers, so a flood of registrations (hash) queues behind itself, never in front of a login.
    """

    def __init__(
        self, memory_kib: int = 19456, time_cost: int = 2, workers: int = 2, hash_workers: int = 1
    ) -> None:
        self._hasher = PasswordHasher(memory_cost=memory_kib, time_cost=time_cost, parallelism=1)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2-login")
        self._hash_pool = ThreadPoolExecutor(
            max_workers=hash_workers, thread_name_prefix="argon2-hash"
        )
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(
            self._hash_pool, self._hasher.hash, password
        )

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self._hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    async def verify(self, hashed: str, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._verify, hashed, password
        )

    async def check(self, hashed: str | None, password: str) -> bool:
        """``verify``, but without a usable hash (unknown user, an account made without a
        password) spend the same time on a hash of this hasher's own cost, then say False: how
        long a login takes tells nothing about the account."""
        if hashed and hashed.startswith("$argon2"):
            return await self.verify(hashed, password)
        if self._dummy is None:  # made in the login pool: never behind registrations
            self._dummy = await asyncio.get_running_loop().run_in_executor(
                self._pool, self._hasher.hash, secrets.token_urlsafe(16)
            )
        await self.verify(self._dummy, password)
        return False

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self._hash_pool.shutdown(wait=False)
