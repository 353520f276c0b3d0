"""GeoCLIP's pretrained location encoder (Vivanco Cepeda et al., NeurIPS 2023), frozen
(``meta_encoding="geoclip"``): 512 features of a place, learned by aligning GPS coordinates with
Flickr images worldwide.

Its weights ship inside the ``geoclip`` wheel (MIT licence), so it loads with no network; the
package needs ``transformers`` for its image side, so it is an optional extra: ``pip install
'stssl[geoclip]'``. Without it, a run asking for it fails at once in one line. The encoder is
frozen here (its features, not its weights, reach the teacher's MLP); fine-tuning it would put
its 9.4 M parameters inside the teacher.
"""

from __future__ import annotations

import functools

import torch

from stssl.encoders.base import register_location_encoder


@functools.lru_cache(maxsize=1)
def _model() -> torch.nn.Module:
    from geoclip import LocationEncoder  # the optional extra: the run's config checked it is there

    return LocationEncoder().eval().requires_grad_(False)


class GeoCLIPLocation:
    dim = 512
    requires = "geoclip"  # the package a run with this encoding needs (stssl[geoclip])

    def __call__(self, lat: torch.Tensor, lon: torch.Tensor) -> torch.Tensor:
        places = torch.stack([lat.reshape(-1), lon.reshape(-1)], dim=-1).float()
        with torch.no_grad():
            return _model()(places).reshape(*lat.shape, self.dim)


register_location_encoder("geoclip", GeoCLIPLocation())
