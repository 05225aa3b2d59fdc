from .config import load_config, parse_runner_args, runner_config
from .runtime import adapt_distributed_to_cpu, allow_mmengine_checkpoints

__all__ = ['adapt_distributed_to_cpu', 'allow_mmengine_checkpoints',
           'load_config', 'parse_runner_args', 'runner_config']
