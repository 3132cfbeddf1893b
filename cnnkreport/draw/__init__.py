"""Stage 4 of the pipeline: pictures of kernels and numbers. numpy mosaics and palette animations (mosaic),
matplotlib figures (figures, filter_figures; canvas draws small multiples on one axes), inline SVG charts (svg)."""
