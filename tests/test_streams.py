"""Each path's own stretch of its block's streams (the kernel's inline PCG64, simcore/_pcg64.h).

Path p draws from each of its block's PCG64 streams advanced by p * 2**64 draws. The kernel
runs numpy's PCG64 and ziggurat inline; here its numbers are compared, number for number, with
numpy's own Generator on ``PCG64.advance(p << 64)`` (the twin's ``path_stream``).
"""
import numpy as np
import pytest

from simcore import _kernel
from simcore._kernel_python import path_stream
from simcore._plan import block_streams


@pytest.mark.parametrize("p", [0, 1, 2, 7, 1023])
def test_path_uniforms_are_numpys(p):
    bg = np.random.PCG64(20261202)
    expected = np.random.Generator(path_stream(bg.state, p)).random(5000)
    np.testing.assert_array_equal(_kernel.path_doubles(bg, p, 5000), expected)


@pytest.mark.parametrize("p", [0, 3, 511])
def test_path_normals_are_numpys(p):
    """200k normals: the ziggurat's wedge and tail slow paths (about 1.2% of draws) run on the
    inline generator through the same bit generator interface."""
    bg = block_streams(np.random.SeedSequence(4, spawn_key=(p,)))[0]
    expected = np.random.Generator(path_stream(bg.state, p)).standard_normal(200_000)
    np.testing.assert_array_equal(_kernel.path_doubles(bg, p, 200_000, normal=True), expected)


def test_block_stream_is_only_read():
    bg = np.random.PCG64(1)
    before = bg.state
    _kernel.path_doubles(bg, 3, 10)
    assert bg.state == before


def test_paths_get_different_numbers():
    bg = np.random.PCG64(2)
    a, b = _kernel.path_doubles(bg, 0, 1000), _kernel.path_doubles(bg, 1, 1000)
    assert not np.intersect1d(a, b).size


def test_kernel_refuses_other_bit_generators():
    from plan_factory import make_plan
    from simcore._plan import BlockOutput
    plan = make_plan()
    with pytest.raises(TypeError, match="PCG64"):
        _kernel.simulate_block(plan, [np.random.Philox(1)] * 7, BlockOutput.allocate(plan, 4))
