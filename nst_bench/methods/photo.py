"""The photo itself as a method: the ceiling row of a content-retention table.

Its output goes through everything a stylization goes through (the runner, ``stylized.jpg``, the same scoring),
so the gap between it and a method is what the method destroys, not what the pipeline does.
"""

from __future__ import annotations

from nst_bench.config import RunConfig
from nst_bench.methods.common import FeedForward
from nst_bench.methods.registry import Method, register_method
from nst_bench.run.cache import ProcessCache


@register_method
class Photo(Method):
    """Returns the content image unchanged (the style image is used only to score the output)."""

    name = "photo"
    reads_style_pixels = False

    def build(self, cfg: RunConfig, cache: ProcessCache) -> FeedForward:
        return FeedForward(cfg, cache, lambda content, styles, blend: content.clone(), None)
