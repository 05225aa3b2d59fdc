from .fusion_token import FusionTokenNeck, ProjectionMLP

__all__ = ['FusionTokenNeck', 'ProjectionMLP']
