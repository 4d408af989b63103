"""The one refusal of an import: the file cannot be read at all."""


class ImportRefused(Exception):
    """The file cannot be imported at all; ``message`` says why (nothing was read or written)."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message
