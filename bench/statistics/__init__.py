"""Statistics: the shared bootstrap resamples, percentile CIs and per-replicate metric
values, and paired comparisons."""
