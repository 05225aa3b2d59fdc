"""Runner hooks for clip data."""
from .hooks import ClipVisualizationHook

__all__ = ['ClipVisualizationHook']
