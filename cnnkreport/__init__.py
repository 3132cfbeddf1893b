"""cnnkreport: train a small CNN on synthetic lab waveforms, record its kernels, publish them as a gallery."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["KernelRecorder", "__version__"]


def __getattr__(name: str) -> Any:
    """`cnnkreport.KernelRecorder`, imported on first use (it needs torch; the rest of a CLI call may not)."""
    if name == "KernelRecorder":
        from .sources.recorder import KernelRecorder

        return KernelRecorder
    raise AttributeError(f"module 'cnnkreport' has no attribute {name!r}")
