"""Loading a config the way the analysis tools do."""
from mmengine.config import Config
from mmengine.registry import init_default_scope


def load_config(path: str, cfg_options: dict | None = None) -> Config:
    """``Config.fromfile(path)`` with ``--cfg-options`` merged, and its
    ``default_scope`` (``mmseg`` when unset) made the current one so that
    registries resolve its types."""
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return cfg
