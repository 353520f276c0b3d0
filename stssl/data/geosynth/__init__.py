"""GeoSynth: the embedded default data set, generated from real geography.

No real imagery can be downloaded while the book builds, so the default data set is *generated*,
but on real places and with a documented mechanism through which the metadata (latitude,
longitude, day of year) carries information about the labels and the appearance of an image.

Where the samples are: :mod:`~stssl.data.geosynth.geography`; what the labels depend on:
:mod:`~stssl.data.geosynth.labels`; what the images look like: :mod:`~stssl.data.geosynth.render`;
the configuration, the data set, its generation, cache and splits (and the registry's declaration):
:mod:`~stssl.data.geosynth.dataset`. Each module imports only those listed after it.
"""

from stssl.data.geosynth.dataset import (
    GENERATOR_VERSION,
    MEAN,
    STD,
    GeoSynth,
    GeoSynthConfig,
    cache_path,
    default_cache_dir,
    generate_geosynth,
    geographic_split,
    geosynth_splits,
    label_probabilities,
    load_geosynth,
)
from stssl.data.geosynth.geography import COASTAL_SEA_FRACTION, COUNTRIES, COUNTRY_WEIGHTS, DOY_WINDOWS, SEA_BUFFER_KM
from stssl.data.geosynth.labels import CITIES, MULTILABEL_CLASSES, SINGLELABEL_CLASSES, WORLD_SEED

__all__ = [
    "CITIES",
    "COASTAL_SEA_FRACTION",
    "COUNTRIES",
    "COUNTRY_WEIGHTS",
    "DOY_WINDOWS",
    "GENERATOR_VERSION",
    "MEAN",
    "MULTILABEL_CLASSES",
    "SEA_BUFFER_KM",
    "SINGLELABEL_CLASSES",
    "STD",
    "WORLD_SEED",
    "GeoSynth",
    "GeoSynthConfig",
    "cache_path",
    "default_cache_dir",
    "generate_geosynth",
    "geographic_split",
    "geosynth_splits",
    "label_probabilities",
    "load_geosynth",
]
