"""Domain errors that views and the API both translate (a form error; a 4xx JSON answer)."""


class DomainError(Exception):
    """Invalid input or a rule broken; ``fields`` maps a field to its messages."""

    status = 422
    code = "invalid"

    def __init__(self, message, fields: dict | None = None):
        super().__init__(str(message))
        self.message = message
        self.fields = fields or {}


class Conflict(DomainError):
    """An edit based on a stale ``version``; ``changes`` says what changed since."""

    status = 409
    code = "conflict"

    def __init__(self, message, changes: dict | None = None):
        super().__init__(message)
        self.changes = changes or {}


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
