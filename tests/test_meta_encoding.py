"""The run option ``meta_encoding`` (location: paper, fourier, sphere) and ``doy_harmonics``:
hand-computed values, orthonormal spherical harmonics, continuity on the sphere, and the
paper's encoding (the default) unchanged in keys and results."""

import math

import numpy as np
import pytest
import torch

from stssl.config import resolve
from stssl.encoders import LOCATION_ENCODERS
from stssl.encoders.fourier import MultiScaleFourier
from stssl.encoders.season import DayOfYear
from stssl.encoders.sphere import real_spherical_harmonics
from stssl.meta import META_DIM, MetaEncoding, batch_meta, encode_meta
from stssl.models import ViTSize, build_teacher_student
from stssl.ood import overwrite_meta
from stssl.training import train

TINY = ViTSize(16, 1, 2, 8, mlp_ratio=2.0)
NEW = ("fourier", "sphere")
RAW = {
    "lat": torch.tensor([38.7, 53.3, 60.2]),
    "lon": torch.tensor([-9.1, -6.3, 24.9]),
    "doy": torch.tensor([15.0, 200.0, 300.0]),
}


def test_sizes():
    assert {k: e.dim for k, e in LOCATION_ENCODERS.items()} == {
        "paper": 2,
        "fourier": 96,
        "sphere": 441,
        "sphere-siren": 1681,
        "geoclip": 512,
    }
    assert META_DIM == MetaEncoding().dim == 4
    assert MetaEncoding("sphere", 3).dim == 441 + 6
    assert encode_meta([1.0], [2.0], [3.0], encoding=MetaEncoding("fourier", 2)).shape == (1, 100)


# ----- hand-computed values -----------------------------------------------------------------


def test_fourier_scales_and_values_at_lat0_lon0():
    enc = MultiScaleFourier()
    wavelength_km = 2 * math.pi * 6371 / enc.frequencies
    assert wavelength_km[0].item() == pytest.approx(40_030.17, abs=0.01)  # the globe: w = 1
    assert wavelength_km[-1].item() == pytest.approx(10.0)
    assert (wavelength_km[:-1] / wavelength_km[1:]).tolist() == pytest.approx([4003.017 ** (1 / 15)] * 15)
    f = enc(torch.tensor([0.0]), torch.tensor([0.0]))[0]  # u = (1, 0, 0)
    w2 = 4003.017 ** (2 / 15)
    sin, cos = f[:48].reshape(16, 3), f[48:].reshape(16, 3)
    torch.testing.assert_close(sin[0], torch.tensor([math.sin(1.0), 0.0, 0.0]))
    torch.testing.assert_close(cos[0], torch.tensor([math.cos(1.0), 1.0, 1.0]))
    torch.testing.assert_close(sin[2], torch.tensor([math.sin(w2), 0.0, 0.0]), atol=1e-5, rtol=0)
    g = enc(torch.tensor([90.0]), torch.tensor([0.0]))[0]  # u = (0, 0, 1)
    torch.testing.assert_close(g[:48].reshape(16, 3)[0], torch.tensor([0.0, 0.0, math.sin(1.0)]))


def test_spherical_harmonics_by_hand():
    # (lat, lon) = (0, 0): u = (1, 0, 0); (45, 90): u = (0, 1/sqrt 2, 1/sqrt 2). Order l, m = -l..l.
    c0, c1, c2, c20 = (
        0.5 / math.sqrt(math.pi),
        math.sqrt(3 / (4 * math.pi)),
        0.5 * math.sqrt(15 / math.pi),
        0.25 * math.sqrt(5 / math.pi),
    )

    def by_hand(x, y, z):
        return [
            c0,
            c1 * y,
            c1 * z,
            c1 * x,
            c2 * x * y,
            c2 * y * z,
            c20 * (3 * z * z - 1),
            c2 * x * z,
            c2 / 2 * (x * x - y * y),
        ]

    y = real_spherical_harmonics(torch.tensor([0.0, 45.0]), torch.tensor([0.0, 90.0]), 2)
    s = 1 / math.sqrt(2)
    assert y[0].tolist() == pytest.approx(by_hand(1, 0, 0), abs=1e-12)
    assert y[1].tolist() == pytest.approx(by_hand(0, s, s), abs=1e-12)


def test_spherical_harmonics_are_orthonormal_by_quadrature():
    # Gauss-Legendre in sin(lat) x uniform in lon is exact for these polynomials up to degree 2 L
    degree = 20
    nodes, weights = np.polynomial.legendre.leggauss(degree + 2)
    n_lon = 2 * degree + 2
    lat = torch.tensor(np.degrees(np.arcsin(nodes))).repeat_interleave(n_lon)
    lon = torch.tensor(np.arange(n_lon) * 360 / n_lon - 180).repeat(len(nodes))
    w = torch.tensor(weights).repeat_interleave(n_lon) * (2 * math.pi / n_lon)
    y = real_spherical_harmonics(lat, lon, degree)
    gram = y.T @ (y * w[:, None])
    torch.testing.assert_close(gram, torch.eye((degree + 1) ** 2, dtype=torch.float64), atol=1e-10, rtol=0)


def test_day_of_year_harmonics_by_hand():
    f = DayOfYear(3)(torch.tensor([91.25, float("nan")]))  # a quarter turn; unknown
    # [sin t, cos t, sin 2t, cos 2t, sin 3t, cos 3t] at t = pi / 2
    torch.testing.assert_close(f[0], torch.tensor([1.0, 0.0, 0.0, -1.0, -1.0, 0.0]), atol=1e-5, rtol=0)
    assert torch.equal(f[1], torch.zeros(6))  # unknown: the centre of every circle, never NaN
    g = encode_meta([45.0], [-9.0], [float("nan")], unknown_doy=1, encoding=MetaEncoding("paper", 2))
    t = 2 * math.pi / 365
    torch.testing.assert_close(g[0, 2:], torch.tensor([math.sin(t), math.cos(t), math.sin(2 * t), math.cos(2 * t)]))


# ----- continuity on the sphere -------------------------------------------------------------


@pytest.mark.parametrize("name", NEW)
def test_continuous_across_the_antimeridian(name):
    enc = LOCATION_ENCODERS[name]
    at = enc(torch.tensor([37.0, 37.0]), torch.tensor([180.0, -180.0]))
    torch.testing.assert_close(at[0], at[1], atol=1e-5, rtol=0)
    step = 2.0**-12  # degrees, exact in float32
    near = enc(torch.tensor([37.0, 37.0]), torch.tensor([180.0 - step, -180.0 + step]))
    # about 43 m apart: no feature moves by more than a phase of 2 pi 43 m / 10 km (the shortest wavelength)
    km = 2 * step * math.pi / 180 * 6371 * math.cos(math.radians(37))
    assert (near[0] - near[1]).abs().max() < 2 * math.pi * km / 10


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("pole", [90.0, -90.0])
def test_one_value_at_each_pole(name, pole):
    out = LOCATION_ENCODERS[name](torch.full((5,), pole), torch.tensor([-180.0, -97.0, 0.0, 45.0, 180.0]))
    torch.testing.assert_close(out, out[:1].expand_as(out), atol=1e-5, rtol=0)


# ----- the paper's encoding is unchanged ----------------------------------------------------


def test_default_encoding_leaves_run_keys_unchanged():
    # keys of these configs before meta_encoding existed
    assert resolve("cpu").key() == "fe69f93cc816"
    assert resolve("cpu", st=True).key() == "37d0f5604bf8"
    assert resolve("smoke", st=True).key() == "c801c6ee4d0c"
    assert resolve("smoke", st=True, meta_encoding="paper", doy_harmonics=1).key() == "c801c6ee4d0c"
    assert resolve("smoke", st=True, meta_encoding="sphere").key() != "c801c6ee4d0c"


def test_default_encoding_gives_the_paper_vector_and_the_same_teacher_output():
    lat, lon, doy = torch.tensor([47.5, -33.9]), torch.tensor([9.3, 151.2]), torch.tensor([198.0, float("nan")])
    t = doy / 365 * 2 * math.pi
    paper = torch.stack([lat / 90, lon / 180, torch.sin(t).nan_to_num(), torch.cos(t).nan_to_num()], -1)
    meta = encode_meta(lat, lon, doy)
    assert torch.equal(meta, paper)
    torch.manual_seed(0)
    teacher, _ = build_teacher_student(TINY, 16, 5)
    teacher.eval()
    x = torch.linspace(-1, 1, 2 * 3 * 16 * 16).reshape(2, 3, 16, 16)
    with torch.no_grad():
        logits = teacher(x, meta).logits
    before = [
        [-0.60448003, 0.96250904, -0.01707527, -0.09678657, 0.26060751],  # this code before the option
        [-0.51181686, 0.92320883, -0.49901199, -0.49702537, 0.12322313],
    ]
    torch.testing.assert_close(logits, torch.tensor(before), atol=1e-5, rtol=0)


# ----- ablations, OOD metadata and training with every encoding ----------------------------


@pytest.mark.parametrize("name", NEW)
def test_ablations_and_ood_overwrite_work_with_any_encoding(name):
    enc = MetaEncoding(name, 2)
    loc = LOCATION_ENCODERS[name].dim
    full, no_time, no_loc = (batch_meta(RAW, c, enc) for c in ("location+time", "location", "time"))
    assert full.shape == (3, enc.dim)
    assert torch.equal(no_time[:, :loc], full[:, :loc]) and torch.equal(no_loc[:, loc:], full[:, loc:])
    assert torch.equal(no_time[:, loc:], encode_meta(RAW["lat"], RAW["lon"], torch.ones(3), encoding=enc)[:, loc:])
    assert torch.equal(no_loc[:, :loc], encode_meta(torch.zeros(3), torch.zeros(3), RAW["doy"], encoding=enc)[:, :loc])
    moved = overwrite_meta(lat=-25.0, lon=134.0, encoding=enc)(RAW)
    assert torch.equal(moved, encode_meta(torch.full((3,), -25.0), torch.full((3,), 134.0), RAW["doy"], encoding=enc))


def test_options_are_checked_and_need_a_teacher():
    with pytest.raises(ValueError, match="valid: paper, fourier, sphere"):
        resolve("smoke", st=True, meta_encoding="nerf")
    with pytest.raises(ValueError, match="doy_harmonics"):
        resolve("smoke", st=True, doy_harmonics=0)
    with pytest.raises(ValueError, match="need st=True"):
        resolve("smoke", meta_encoding="sphere")


@pytest.mark.parametrize("option", [{"meta_encoding": "fourier"}, {"meta_encoding": "sphere", "doy_harmonics": 4}])
def test_smoke_runs_train_with_each_new_encoding(option):
    cfg = resolve("smoke", st=True, **option)
    module = train(cfg, progress=False)
    assert module.nets["teacher"].meta_mlp[0].in_features == MetaEncoding.of(cfg).dim
    metrics = module.final_metrics()
    assert 0 < metrics["test_mAP"] <= 1 and 0 < metrics["teacher_test_mAP"] <= 1
