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
    "supervised": "Supervised only",
    "fixmatch": "FixMatch",
    "udal": "UDAL",
    "softmatch": "SoftMatch",
    "freematch": "FreeMatch",
    "defixmatch": "DeFixMatch",
    "cap": "CAP",
    "cdmad": "CDMAD",
}

# Table 2: ablations of FixMatch + ST-SSL, BigEarthNet 1 % labels, test mAP (%). Keyed by the
# paper's row letter: (description, mAP).
TABLE2: dict[str, tuple[str, float]] = {
    "a": ("FixMatch + ST-SSL (MSE distillation, λ_D = 1)", 46.12),
    "b": ("without acquisition time T", 45.59),
    "c": ("without geolocation G", 44.96),
    "d": ("late fusion", 43.59),
    "e": ("single model", 44.61),
    "f": ("without distillation", 44.92),
    "g": ("MAE distillation", 45.86),
    "h": ("cosine similarity distillation", 45.17),
    "i": ("classification token distillation", 42.89),
    "j": ("without stopping gradients", 45.86),
    "k": ("λ_D = 0.1", 45.27),
    "l": ("λ_D = 0.5", 45.76),
    "m": ("λ_D = 2.0", 45.78),
}

# Table 3: FixMatch + ST-SSL on BigEarthNet 1 %, test mAP (%): (model, metadata at test, OOD
# component, mAP, std over the five OOD values or None). Rows e, f use the geographic split.
TABLE3: dict[str, tuple[str, bool, str, float, float | None]] = {
    "a": ("Student", False, "–", 46.12, None),
    "b": ("Teacher", True, "–", 44.93, None),
    "c": ("Teacher", True, "p_train(G) ≠ p_test(G)", 30.15, 1.38),
    "d": ("Teacher", True, "p_train(T) ≠ p_test(T)", 42.75, 1.30),
    "e": ("Student †", False, "p_train(y, I) ≠ p_test(y, I)", 16.65, None),
    "f": ("Teacher †", True, "p_train(y, I, G) ≠ p_test(y, I, G)", 15.43, None),
}

# Table 4: EuroSAT top-1 accuracy (%) by number of labels.
TABLE4: dict[str, dict[int, float]] = {
    "Supervised only": {10: 57.56, 20: 71.70, 40: 85.13, 80: 88.50},
    "FixMatch": {10: 64.19, 20: 89.13, 40: 94.20, 80: 96.39},
    "FixMatch + ST-SSL": {10: 77.85, 20: 90.56, 40: 93.96, 80: 96.52},
}


def method_name(algo: str, st: bool) -> str:
    """A method as the paper's tables name it: "FixMatch", "FixMatch + ST-SSL"."""
    return DISPLAY_NAMES.get(algo, algo) + (" + ST-SSL" if st else "")
