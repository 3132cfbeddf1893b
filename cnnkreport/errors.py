"""The exception that means "the user gave us something we cannot use" (CLI exit code 2), and the one that means
"some of the runs failed, the others are done" (exit code 1)."""


class UserError(Exception):
    """Bad input: a bad option, a missing or corrupt file, an invalid config. The message is one line."""


def os_error_text(e: OSError) -> str:
    """What the file system said, and about which file: "No space left on device (site/x.png)". A failed copy
    names its source first and the file it could not write second: the second is the one to name."""
    target = e.filename2 or e.filename
    return f"{e.strerror or e}{f' ({target})' if target else ''}"


class JobsFailed(Exception):
    """Runs that failed on their engine, each with its error in one line, after every other run had its chance to
    finish: `failed` is [(run name, error)], out of `total` runs."""

    def __init__(self, failed: list[tuple[str, str]], total: int) -> None:
        super().__init__(f"{len(failed)} of {total} runs failed")
        self.failed, self.total = failed, total
