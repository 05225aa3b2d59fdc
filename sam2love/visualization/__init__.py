"""Drawing referring masks over clips (demo and ``--show-dir``)."""
from .drawing import (
    EXPRESSION_COLOURS,
    draw_legend,
    expression_colours,
    overlay_masks,
)
from .refavs_visualizer import RefAVSVisualizer

__all__ = ['RefAVSVisualizer', 'EXPRESSION_COLOURS', 'expression_colours',
           'overlay_masks', 'draw_legend']
