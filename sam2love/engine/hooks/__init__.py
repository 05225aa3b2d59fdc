from .clip_visualization_hook import ClipVisualizationHook
from .teacher_warmup_hook import TeacherWarmupHook

__all__ = ['ClipVisualizationHook', 'TeacherWarmupHook']
