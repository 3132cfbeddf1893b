"""The one exception type that means "the user gave us something we cannot use" (CLI exit code 2)."""


class UserError(Exception):
    """Bad input: a bad option, a missing or corrupt file, an invalid config. The message is one line."""


def os_error_text(e: OSError) -> str:
    """What the file system said, and about which file: "No space left on device (site/x.png)". A failed copy
    names its source first and the file it could not write second: the second is the one to name."""
    target = e.filename2 or e.filename
    return f"{e.strerror or e}{f' ({target})' if target else ''}"
