"""Domain errors. The gateway maps each to an HTTP status in exactly one place."""


class DomainError(Exception):
    """Base of every error a command or query reports to the caller."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidError(DomainError):
    """The request breaks a business rule (400)."""


class UnauthorizedError(DomainError):
    """No or bad credentials (401)."""


class ForbiddenError(DomainError):
    """Authenticated, but not allowed (403)."""


class NotFoundError(DomainError):
    """The resource does not exist or is not visible to the caller (404)."""


class ConflictError(DomainError):
    """The request conflicts with the current state (409)."""


class TooLargeError(DomainError):
    """The payload exceeds a configured limit (413)."""


class ConcurrencyError(DomainError):
    """An append's expected version did not match the stream's current version."""


class UnavailableError(DomainError):
    """A backend or projection is not ready; retry later (503)."""
