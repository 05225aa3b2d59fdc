from .sam2love import SAM2LOVE

__all__ = ['SAM2LOVE']
