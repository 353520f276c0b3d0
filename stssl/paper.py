"""The paper's published numbers, to show beside ours (``context-matters.md``)."""

# Table 1: BigEarthNet, 1 % labels, test macro mAP (%), plain and + ST-SSL. The paper leaves
# the supervised baseline's cell empty.
TABLE1: dict[str, tuple[float | None, float | None]] = {
    "supervised": (None, None),
    "fixmatch": (42.56, 46.12),
    "udal": (42.32, 45.84),
    "softmatch": (41.95, 45.34),
    "freematch": (42.46, 45.20),
    "defixmatch": (43.09, 46.65),
    "cap": (41.81, 45.53),
    "cdmad": (41.48, 43.74),
}

DISPLAY_NAMES = {
    "supervised": "Supervised only", "fixmatch": "FixMatch", "udal": "UDAL", "softmatch": "SoftMatch",
    "freematch": "FreeMatch", "defixmatch": "DeFixMatch", "cap": "CAP", "cdmad": "CDMAD",
}
