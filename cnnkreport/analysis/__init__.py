"""Stage 3 of the pipeline: how detector-like are the kernels? Detector banks (bank), scores and baselines
(scores), filters as numbers (filters), the report as data and sentences (report), and the recipe check (recipe)."""
