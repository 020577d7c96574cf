"""Sparsity laws: Hossain et al. 2025 (Eq. 7) and Frantar et al. 2023.

Both read ``S``, the sparsity in [0, 1): the fraction of weights that are zero
(pruning) or, for MoE, ``1 - active/total`` (``(E - k)/E`` when every layer is
an expert layer). Loss in nats/token.
"""


from scalelab.laws.base import Law, positive


def _hossain_predict(p, x):
    keep = 1.0 - x["S"]
    return (p["e"] * keep ** p["gamma"]
            + (p["a"] * keep ** p["alpha"] + p["c"] * x["S"]) / x["N"] ** p["alpha"]
            + p["b"] / x["D"] ** p["beta"])


HOSSAIN2025_SPARSE = Law(
    name="hossain2025_sparse",
    aliases=("hossain2025", "eq7"),
    inputs=("N", "D", "S"),
    params=("e", "a", "b", "c", "alpha", "beta", "gamma"),
    predict=_hossain_predict,
    transforms={"e": positive, "a": positive, "b": positive, "c": positive,
                "alpha": positive, "beta": positive, "gamma": positive},
    start_ranges={
        "log_e": (-3.0, 1.0), "log_a": (0.0, 8.0), "log_b": (0.0, 10.0), "log_c": (-3.0, 4.0),
        "log_alpha": (-3.0, -0.5), "log_beta": (-3.0, -0.5), "log_gamma": (-3.0, 1.0),
    },
    reference={
        # Hossain et al. 2025, arXiv 2508.06617: Eq. 7 fitted to each earlier law's data (LAWS.md 1.3, [weak]).
        "hoffmann": {"e": 1.69, "a": 406.4, "b": 410.7, "c": 0.0, "alpha": 0.34, "beta": 0.28, "gamma": 0.01},
        "frantar": {"e": 0.15, "a": 86.03, "b": 7.90, "c": 29.26, "alpha": 0.28, "beta": 0.08, "gamma": 2.00},
        "abnar": {"e": 0.57, "a": 8.26, "b": 6324.82, "c": 3.57, "alpha": 0.08, "beta": 0.40, "gamma": 1.19},
    },
    citation="Hossain, Wu, Taylor, Jannesari 2025, arXiv 2508.06617, Eq. 7 (form from the authors' code)",
    active_n=True,
    conventions=("N: active (non-zero) parameters, i.e. N_total*(1-S); D: training tokens; S: sparsity in [0,1) "
                 "(MoE: 1 - active/total). At S = 0 the law is exactly Chinchilla e + a/N^alpha + b/D^beta."),
    description="Generalised dense+sparse law e(1-S)^gamma + (a(1-S)^alpha + cS)/N^alpha + b/D^beta.",
)
"""Hossain et al. 2025, Eq. 7: ``L = e(1-S)^gamma + (a(1-S)^alpha + c S)/N^alpha + b/D^beta``.

Parameters are all positive. The published ``c = 0`` of the Hoffmann row lies on
the boundary; it is representable only in the limit (use ``fixed={"c": 1e-12}``).
"""


def _frantar_predict(p, x):
    keep = 1.0 - x["S"]
    return ((p["aS"] * keep ** p["bS"] + p["cS"]) * (1.0 / x["N"]) ** p["bN"]
            + (p["aD"] / x["D"]) ** p["bD"] + p["c"])


FRANTAR2023_SPARSITY = Law(
    name="frantar2023_sparsity",
    aliases=("frantar2023",),
    inputs=("N", "D", "S"),
    params=("aS", "bS", "cS", "bN", "aD", "bD", "c"),
    predict=_frantar_predict,
    transforms={k: positive for k in ("aS", "bS", "cS", "bN", "aD", "bD", "c")},
    start_ranges={
        "log_aS": (0.0, 10.0), "log_bS": (-3.0, 1.0), "log_cS": (0.0, 8.0), "log_bN": (-3.0, -0.5),
        "log_aD": (5.0, 25.0), "log_bD": (-3.0, -0.5), "log_c": (-2.0, 1.0),
    },
    reference={},
    citation="Frantar, Riquelme, Houlsby, Alistarh, Evci 2023, arXiv 2309.08520, Eq. 1",
    conventions=("N: non-zero parameters (dense count times 1-S); D: training tokens; S: weight sparsity in [0,1). "
                 "No published coefficients are carried (the paper gives none). At S = 0: Chinchilla with "
                 "A = aS + cS, alpha = bN, B = aD^bD, beta = bD, E = c."),
    description="Frantar sparsity law (aS(1-S)^bS + cS)(1/N)^bN + (aD/D)^bD + c.",
)
"""Frantar et al. 2023: ``L = (aS (1-S)^bS + cS) (1/N)^bN + (aD/D)^bD + c``."""
