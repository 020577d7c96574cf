"""Float64 NumPy re-implementations of every loss law, written from LAWS.md (independent of the JAX code)."""

import numpy as np


def chinchilla(p, N, D, **_):
    return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]


def wang(p, N, D, E, **_):
    return p["A"] / (N ** p["alpha"] * E ** p["gamma"]) + p["B"] / D ** p["beta"] + p["sigma"]


def chen(p, N, D, **_):
    otr = D / N
    rd = 1 + 1 / (1 + np.exp(-p["k_D"] * otr))
    rn = 1 + 1 / (1 + np.exp(-p["k_N"] * otr))
    return p["B"] * rd / D ** p["beta"] + p["A"] * rn / N ** p["alpha"] + p["E"]


def chen_density(p, N, D, density, **_):
    otr = D / N
    rd = 1 + 1 / (1 + np.exp(-p["k_D"] * otr))
    rn = 1 + 1 / (1 + np.exp(-p["k_N"] * otr))
    return p["B"] * rd / D ** (p["beta"] * (1 - p["kappa"] * density)) + p["A"] * rn / N ** p["alpha"] + p["E"]


def hossain(p, N, D, S, **_):
    return (p["e"] * (1 - S) ** p["gamma"] + (p["a"] * (1 - S) ** p["alpha"] + p["c"] * S) / N ** p["alpha"]
            + p["b"] / D ** p["beta"])


def frantar(p, N, D, S, **_):
    return (p["aS"] * (1 - S) ** p["bS"] + p["cS"]) * (1 / N) ** p["bN"] + (p["aD"] / D) ** p["bD"] + p["c"]


def abnar(p, N, D, S, **_):
    return (p["e"] + p["a"] / N ** p["alpha"] + p["b"] / D ** p["beta"] + p["c"] / (1 - S) ** p["lam"]
            + p["d"] / ((1 - S) ** p["delta"] * N ** p["gamma"]))


def clark(p, N, E, **_):
    inv = 1 / (E - 1 + 1 / (1 / p["E_start"] - 1 / p["E_max"])) + 1 / p["E_max"]
    Ehat = 1 / inv
    lN, lE = np.log10(N), np.log10(Ehat)
    return 10 ** (p["a"] * lN + p["b"] * lE + p["c"] * lN * lE + p["d"])


def krajewski(p, N, D, G, **_):
    return p["c"] + (p["g"] / G ** p["gamma"] + p["a"]) / N ** p["alpha"] + p["b"] / D ** p["beta"]


def muennighoff(p, N, D, U_D, **_):
    a, b = p["alpha"], p["beta"]
    G = (a * p["A"] / (b * p["B"])) ** (1 / (a + b))
    # compute-optimal N for U_D tokens: D_opt = (C/6)^(a/(a+b))/G, N_opt = G (C/6)^(b/(a+b))
    c6 = (G * U_D) ** ((a + b) / a)
    U_N = np.minimum(N, G * c6 ** (b / (a + b)))
    R_D = np.maximum(D / U_D - 1, 0)
    R_N = np.maximum(N / U_N - 1, 0)
    Dp = U_D + U_D * p["R_D_star"] * (1 - np.exp(-R_D / p["R_D_star"]))
    Np = U_N + U_N * p["R_N_star"] * (1 - np.exp(-R_N / p["R_N_star"]))
    Dp = np.where(R_D > 0, Dp, D)
    Np = np.where(R_N > 0, Np, N)
    return p["E"] + p["A"] / Np ** a + p["B"] / Dp ** b


def gadre(p, N, D, **_):
    M, C = D / N, 6 * N * D
    return p["E"] + (p["a"] * M ** p["eta"] + p["b"] * M ** -p["eta"]) * C ** -p["eta"]


def bnsl(p, C, **_):
    out = p["b"] * C ** -p["c0"]
    i = 1
    while f"c{i}" in p:
        out = out * (1 + (C / p[f"d{i}"]) ** (1 / p[f"f{i}"])) ** (-p[f"c{i}"] * p[f"f{i}"])
        i += 1
    return p["a"] + out


def batch_size_loss(p, loss, **_):
    return p["lambda_B"] * loss ** -p["alpha_B"]


def lr_loss(p, loss, **_):
    return p["lambda_lr"] * loss ** -p["alpha_lr"]


def deepseek_batch_size(p, C, **_):
    return p["lambda_B"] * C ** p["alpha_B"]


def deepseek_lr(p, C, **_):
    return p["lambda_lr"] * C ** -p["alpha_lr"]


def kaplan(p, N, D, **_):
    return ((p["Nc"] / N) ** (p["aN"] / p["aD"]) + p["Dc"] / D) ** p["aD"]


def skaling(p, N, D, **_):
    return p["E"] + (p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]) ** p["kappa"]


def farseer(p, N, D, **_):
    # centred Box-Cox form on n = N/1e9: C + c (n^k - 1)/k, and C + c log n at k = 0
    n = N / 1e9

    def term(C, c, k):
        return C + c * (np.log(n) if k == 0 else (n ** k - 1) / k)

    exponent = np.exp(term(p["E"], p["A"], p["a"]))
    coefficient = np.exp(term(p["Q"], p["B"], p["b"])) * 1e10 ** np.exp(p["E"])  # Q: log data term at (1e9, 1e10)
    return np.exp(term(p["S"], p["s"], p["q"])) + coefficient * D ** -exponent


REFS = {
    "chinchilla": chinchilla, "kaplan": kaplan, "wang2024_moe": wang,
    "wang2024_moe_active": lambda p, N_active, D, E, **_: wang(p, N_active, D, E),
    "chen2025_suboptimal": chen, "chen2025_suboptimal_density": chen_density,
    "hossain2025_sparse": hossain, "frantar2023_sparsity": frantar, "abnar2025_moe": abnar,
    "clark2022_routed": clark, "krajewski2024_granularity": krajewski, "muennighoff2023_repeat": muennighoff,
    "gadre2024_overtrain": gadre, "bnsl": bnsl, "bnsl2": bnsl, "batch_size_loss": batch_size_loss,
    "lr_loss": lr_loss, "deepseek_batch_size": deepseek_batch_size, "deepseek_lr": deepseek_lr,
    "skaling": skaling, "farseer": farseer,
}


def huber(r, delta=1e-3):
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r ** 2, delta * (a - 0.5 * delta))


def per_step_multipower(p, lrs, t):
    """Multi-power loss by the authors' per-step formula (float64 NumPy) at steps ``t`` for per-step ``lrs[0..T]``."""
    cs = np.cumsum(lrs)
    gap = np.zeros_like(lrs)
    gap[1:] = np.diff(lrs)
    out = []
    for s in t:
        G = 1 - (1 + p["C"] * lrs[1:s + 1] ** (-p["gamma"]) * (cs[s] - cs[:s])) ** (-p["beta"])
        out.append(p["L0"] + p["A"] * cs[s] ** (-p["alpha"]) + p["B"] * np.sum(gap[1:s + 1] * G))
    return np.array(out)
