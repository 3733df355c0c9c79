"""Statistics: the shared bootstrap resamples (:mod:`.resampling`), percentile CIs and
per-replicate metric values (:mod:`.intervals`), paired comparisons of two models
(:mod:`.paired`) and the checks of binary labels and scores (:mod:`.inputs`)."""
