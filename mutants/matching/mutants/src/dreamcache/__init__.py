"""dreamcache: a collaborative cache in front of a Stable Diffusion pipeline."""

__version__ = "0.1.0"
