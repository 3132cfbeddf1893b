"""The one exception type that means "the user gave us something we cannot use" (CLI exit code 2)."""


class UserError(Exception):
    """Bad input: a bad option, a missing or corrupt file, an invalid config. The message is one line."""
