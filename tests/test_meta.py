import math

import numpy as np
import pytest
import torch

from stssl.meta import encode_meta


def test_worked_example():
    # lat 47.5, lon 9.3, 2017-07-17 (doy 198): [47.5/90, 9.3/180, sin, cos of 2 pi 198/365]
    f = encode_meta([47.5], [9.3], [198.0])[0]
    torch.testing.assert_close(f, torch.tensor([0.52778, 0.05167, -0.26371, -0.96460]), atol=1e-4, rtol=0)


def test_cyclic_day_of_year():
    f = encode_meta([0.0, 0.0], [0.0, 0.0], [365.0, 91.25])
    torch.testing.assert_close(f[0, 2:], torch.tensor([0.0, 1.0]), atol=1e-5, rtol=0)  # full turn
    torch.testing.assert_close(f[1, 2:], torch.tensor([1.0, 0.0]), atol=1e-5, rtol=0)  # quarter turn


def test_unknown_day_is_explicit_not_nan():
    f = encode_meta([45.0], [-9.0], [float("nan")])
    assert not torch.isnan(f).any()
    torch.testing.assert_close(f[0], torch.tensor([0.5, -0.05, 0.0, 0.0]))
    # the authors' EuroSAT convention: a constant dummy date, day 1
    g = encode_meta([45.0], [-9.0], [float("nan")], unknown_doy=1)
    torch.testing.assert_close(g[0, 2:], torch.tensor([math.sin(2 * math.pi / 365), math.cos(2 * math.pi / 365)]))


@pytest.mark.parametrize("lat, lon", [(91.0, 0.0), (0.0, -180.5), (float("nan"), 0.0)])
def test_bad_locations_are_refused(lat, lon):
    with pytest.raises(ValueError, match="lat"):
        encode_meta(np.array([lat]), np.array([lon]), np.array([1.0]))
