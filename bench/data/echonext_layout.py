"""The names of EchoNext's published layout (PhysioNet; docs/data.md, "EchoNext", cites
where each is published). Light: no numpy or pandas, so ``bench.api`` can export them."""

from __future__ import annotations

#: The metadata table as shipped (and checksummed); the README's capitalised spelling second.
METADATA_CSVS: tuple[str, ...] = ("echonext_metadata_100k.csv", "EchoNext_metadata_100k.csv")
#: ``split`` values of the metadata table, each with its waveform array.
SPLITS: tuple[str, ...] = ("train", "val", "test", "no_split")
#: The waveform array of one split.
WAVEFORMS = "EchoNext_{split}_waveforms.npy"
#: The 11 per-condition structural heart disease flags (0/1) of the metadata table, in the
#: release's order (docs/data.md, "EchoNext", for where the names are published).
ECHONEXT_FLAGS: tuple[str, ...] = (
    "lvef_lte_45_flag",
    "lvwt_gte_13_flag",
    "aortic_stenosis_moderate_or_greater_flag",
    "aortic_regurgitation_moderate_or_greater_flag",
    "mitral_regurgitation_moderate_or_greater_flag",
    "tricuspid_regurgitation_moderate_or_greater_flag",
    "pulmonary_regurgitation_moderate_or_greater_flag",
    "rv_systolic_dysfunction_moderate_or_greater_flag",
    "pericardial_effusion_moderate_large_flag",
    "pasp_gte_45_flag",
    "tr_max_gte_32_flag",
)
#: Any of the above at moderate or greater severity (the release's composite SHD label).
COMPOSITE_COLUMN = "shd_moderate_or_greater_flag"
