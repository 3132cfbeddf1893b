"""cnnkreport: train a small CNN on synthetic lab waveforms, record its kernels, publish them as a gallery."""

__version__ = "0.1.0"
