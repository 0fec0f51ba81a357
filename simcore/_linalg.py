"""Small linear algebra shared by the build (correlations) and the stress layer (spikes)."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["psd_cholesky"]


def psd_cholesky(A: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """Lower-triangular L with L L^T = A for a positive *semi*-definite A.

    numpy's Cholesky refuses singular matrices, but a full spike (w = 1) is rank one. This is
    the plain Cholesky-Banachiewicz recursion where a pivot at or below ``tol`` (relative to
    the diagonal) marks a column that is a combination of earlier ones: it is set to zero.
    """
    A = np.asarray(A, dtype=float)
    n = A.shape[0]
    L = np.zeros_like(A)
    for j in range(n):
        d = A[j, j] - L[j, :j] @ L[j, :j]
        if d <= tol * max(1.0, A[j, j]):
            if d < -1e-8 * max(1.0, A[j, j]):
                raise ValueError(f"matrix is not positive semi-definite (pivot {d:.3g})")
            continue
        L[j, j] = math.sqrt(d)
        L[j + 1:, j] = (A[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    if not np.allclose(L @ L.T, A, atol=1e-9):
        raise ValueError("matrix is not positive semi-definite")
    return L
