"""The kernel's inline ziggurat (simcore/_ziggurat.h) against numpy's Generator.standard_normal.

The kernel draws its normal shocks with numpy's ziggurat compiled inline instead of calling
numpy once per normal. The contract is the stream itself: on the same BitGenerator it must
give numpy's numbers, every one of them, including those from the rare slow paths (the
wedges, ~1 draw in 100, and the tail beyond r = 3.654, ~1 in 4,000), which consume further
raw draws in numpy's order -- one wrong step there and every later number differs. Then, as
a sanity net, the distribution checks a normal sampler must pass.
"""
import math

import numpy as np
import pytest

from simcore import _kernel

R = 3.6541528853610088   # numpy's ziggurat_nor_r: where the tail path takes over


def numpy_normals(bg_cls, seed, n):
    return np.random.Generator(bg_cls(seed)).standard_normal(n)


@pytest.mark.parametrize("seed", [0, 1, 7, 20240601])
def test_stream_equals_numpy_exactly(seed):
    n = 2_000_000
    ref = numpy_normals(np.random.PCG64, seed, n)
    got, counts = _kernel.standard_normal_fill(np.random.PCG64(seed), n, counts=True)
    assert got.dtype == np.float64 and got.shape == (n,)
    # bit for bit (array_equal would also accept -0.0 for 0.0)
    assert np.array_equal(got.view(np.uint64), ref.view(np.uint64))
    # every branch of the sampler was exercised: ~0.7% wedges (~45% rejected, each rejection
    # restarting with a new raw draw), ~0.025% tail samples (some needing several proposals)
    assert counts["wedge"] > 10_000 and counts["wedge_reject"] > 5_000
    assert counts["tail"] > 300 and counts["tail_reject"] > 10
    # tail samples are exactly the values beyond r
    assert counts["tail"] == int(np.count_nonzero(np.abs(got) > R))


def test_generator_left_in_numpys_state():
    """Afterwards the BitGenerator has advanced exactly as far as numpy's would: the numbers
    that follow, from any distribution, are the same."""
    a, b = np.random.PCG64(3), np.random.PCG64(3)
    np.random.Generator(a).standard_normal(1_000_003)
    _kernel.standard_normal_fill(b, 1_000_003)
    assert a.state == b.state
    ga, gb = np.random.Generator(a), np.random.Generator(b)
    np.testing.assert_array_equal(ga.random(10), gb.random(10))
    np.testing.assert_array_equal(ga.standard_normal(10), gb.standard_normal(10))


def test_chunks_continue_the_stream():
    """Drawing in chunks (as the kernel does, a few normals per path and step) is drawing
    the one stream: chunk boundaries change nothing, even inside a slow path's run."""
    ref = numpy_normals(np.random.PCG64, 11, 300_000)
    bg = np.random.PCG64(11)
    sizes = np.random.default_rng(0).integers(0, 9, 80_000)
    parts, total = [], 0
    for k in sizes:
        k = int(min(k, 300_000 - total))
        parts.append(_kernel.standard_normal_fill(bg, k))
        total += k
    parts.append(_kernel.standard_normal_fill(bg, 300_000 - total))
    np.testing.assert_array_equal(np.concatenate(parts), ref)


@pytest.mark.parametrize("bg_cls", [np.random.MT19937, np.random.Philox, np.random.SFC64,
                                    np.random.PCG64DXSM])
def test_stream_equals_numpy_other_bit_generators(bg_cls):
    """Raw words come through the BitGenerator's own next_uint64 / next_double, so the
    sampler reproduces numpy on any BitGenerator, not only the engine's PCG64."""
    n = 400_000
    got = _kernel.standard_normal_fill(bg_cls(5), n)
    np.testing.assert_array_equal(got, numpy_normals(bg_cls, 5, n))


def test_edge_sizes_and_errors():
    assert _kernel.standard_normal_fill(np.random.PCG64(1), 0).shape == (0,)
    np.testing.assert_array_equal(_kernel.standard_normal_fill(np.random.PCG64(1), 1),
                                  numpy_normals(np.random.PCG64, 1, 1))
    with pytest.raises(ValueError):
        _kernel.standard_normal_fill(np.random.PCG64(1), -1)
    with pytest.raises((ValueError, AttributeError)):
        _kernel.standard_normal_fill(object(), 3)


# ---- distribution checks -------------------------------------------------------------------

def _normal_sf(x):
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def _check_moments_and_tails(z, zmax=5.0):
    n = z.size
    m, v = z.mean(), z.var()
    c = z - m
    skew = np.mean(c ** 3) / v ** 1.5
    kurt = np.mean(c ** 4) / v ** 2
    # standard errors: mean 1/sqrt(n), var sqrt(2/n), skew sqrt(6/n), kurtosis sqrt(24/n)
    assert abs(m) < zmax / math.sqrt(n)
    assert abs(v - 1.0) < zmax * math.sqrt(2.0 / n)
    assert abs(skew) < zmax * math.sqrt(6.0 / n)
    assert abs(kurt - 3.0) < zmax * math.sqrt(24.0 / n)
    for k in (3.0, 4.0):
        p = 2.0 * _normal_sf(k)
        hits = int(np.count_nonzero(np.abs(z) > k))
        sd = math.sqrt(n * p * (1.0 - p))
        assert abs(hits - n * p) < zmax * sd + 1, (k, hits, n * p)
    # both tails, separately
    p3 = _normal_sf(3.0)
    for side in (z > 3.0, z < -3.0):
        hits = int(np.count_nonzero(side))
        assert abs(hits - n * p3) < zmax * math.sqrt(n * p3) + 1


def test_distribution_moments_and_tails():
    _check_moments_and_tails(_kernel.standard_normal_fill(np.random.PCG64(99), 4_000_000))


def test_ks_and_tail_beyond_r():
    from scipy import stats
    z = _kernel.standard_normal_fill(np.random.PCG64(123), 1_000_000)
    assert stats.kstest(z, "norm").pvalue > 1e-4
    # the tail path's own output, conditionally: |z| - r given |z| > r is close to
    # exponential with rate r (Marsaglia's tail), mean ~ 1/(r + 1/r) ... check the mean
    t = np.abs(z[np.abs(z) > R]) - R
    exact = _normal_sf(R)
    mean_excess = (math.exp(-R * R / 2) / math.sqrt(2 * math.pi)) / exact - R
    assert t.size > 100
    assert abs(t.mean() - mean_excess) < 5 * t.std() / math.sqrt(t.size)


@pytest.mark.slow
def test_distribution_large():
    from scipy import stats
    z = _kernel.standard_normal_fill(np.random.PCG64(2024), 20_000_000)
    _check_moments_and_tails(z)
    assert stats.kstest(z, "norm").pvalue > 1e-4
    # 4 sigma: ~1,270 expected; 5 sigma: ~11
    hits5 = int(np.count_nonzero(np.abs(z) > 5.0))
    assert 1 <= hits5 <= 30


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_stream_equals_numpy_long(seed):
    n = 10_000_000
    got = _kernel.standard_normal_fill(np.random.PCG64(1000 + seed), n)
    np.testing.assert_array_equal(got, numpy_normals(np.random.PCG64, 1000 + seed, n))
