"""The analysis stage: how detector-like are the kernels? Detector templates for any size (bank), the families fitted
to long 1-D kernels (fit), kernels matched against either (matching), r* with its baselines and controls over every
snapshot (scores), filters as numbers (filters), the frozen records summary.json and the API are made of (results),
the report as data and sentences (report), the presets' promises checked (recipe), and the unsupervised reference
dictionary of a run's own data (sparse)."""
