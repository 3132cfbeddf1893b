"""cnnkreport: train a small CNN on synthetic lab waveforms, record its kernels, publish them as a gallery."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["KernelRecorder", "Layer", "Report", "UserError", "__version__", "inspect"]


def __getattr__(name: str) -> Any:
    """`cnnkreport.KernelRecorder` and the notebook API (`cnnkreport.inspect`, `Report`, `Layer`), imported on
    first use (they need torch and scipy; the rest of a CLI call may not)."""
    if name == "KernelRecorder":
        from .sources.recorder import KernelRecorder

        return KernelRecorder
    if name in ("inspect", "Report", "Layer"):
        from . import api

        return getattr(api, name)
    if name == "UserError":
        from .errors import UserError

        return UserError
    if name in ("keras", "lightning"):  # `cnnkreport.keras.KernelRecorder` after a plain `import cnnkreport`
        import importlib

        return importlib.import_module(f"{__name__}.{name}")  # imports no framework until KernelRecorder is used
    raise AttributeError(f"module 'cnnkreport' has no attribute {name!r}")
