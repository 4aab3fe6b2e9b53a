"""Errors raised by services. Views turn them into form errors or flash messages."""


class DomainError(Exception):
    """A rule of the domain refused the action. ``message`` is translatable, user-facing text.

    ``field`` names the form field the message belongs to, when there is one.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationError(DomainError):
    """Input that breaks a rule (format, range, uniqueness)."""


class PermissionDenied(DomainError):
    """The actor may not do this."""


class NotFound(DomainError):
    """The named object does not exist (or is not the actor's to see)."""


class InvalidTransition(DomainError):
    """A state change that the state table does not allow from the current state."""


class Conflict(DomainError):
    """Someone else changed the object first; nothing was changed by this call."""
