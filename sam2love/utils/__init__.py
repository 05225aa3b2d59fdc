from .runtime import adapt_distributed_to_cpu, allow_mmengine_checkpoints

__all__ = ['adapt_distributed_to_cpu', 'allow_mmengine_checkpoints']
