"""Stage 4 of the pipeline: pictures of kernels and numbers. numpy palette, tiles and writers of PNGs and GIFs
(mosaic), a whole layer and its animation drawn from them to fit a page (compact), animations as sprite sheets and
GIFs (sprites), matplotlib figures (figures, filter_figures; filterbank: a layer of 1-D kernels as a filterbank, and
the frequency axis of every filter figure, in Hz where the sample rate is known; canvas draws small multiples on one
axes), inline SVG charts (svg), and the Python API's pictures (plots)."""
