"""Stage 2 of the pipeline: where kernels come from besides `train`. A user's model files, read safely (checkpoint,
with its readers pytorch and safetensors, and layers, which classifies their weights) and turned into a run folder
(inspect), or kernels recorded from the user's own training loop (recorder)."""
