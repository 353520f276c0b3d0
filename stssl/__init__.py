"""stssl: Spatiotemporal semi-supervised learning (ST-SSL) for remote-sensing images.

The teacher sees the image and its metadata (latitude, longitude, day of year) as one extra
*metatoken*; the student sees the image only and learns from the teacher's pseudo-labels and
from a distillation token pulled towards the teacher's metatoken.
"""

__version__ = "0.1.0"
