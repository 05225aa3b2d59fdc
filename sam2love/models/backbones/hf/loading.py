"""Building the model of a Hugging Face encoder: weights from a local folder
(``local_files_only=True``, every weight required) or a random init from a
config dict; a named type's classes (:mod:`.specs`) or, for
``model_type='auto'``, those ``AutoConfig`` / ``AutoModel`` pick (the
vision or text tower of a dual encoder such as CLIP or SigLIP)."""
import inspect
import os.path as osp

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig

from .specs import ModelSpec, lookup


def check_folder(path: str, owner: str) -> None:
    """Raise a clear error when a local model folder is missing."""
    if not osp.isdir(path):
        raise FileNotFoundError(
            f'{owner}: pretrained folder {path!r} does not exist (a local '
            'Hugging Face model folder is needed: nothing is downloaded)')
    if not osp.isfile(osp.join(path, 'config.json')):
        raise FileNotFoundError(
            f'{owner}: pretrained folder {path!r} has no config.json; '
            'save the model there with save_pretrained()')


def load_pretrained(spec: ModelSpec, owner: str, folder: str,
                    overrides: dict | None = None) -> nn.Module:
    """``spec.model_cls`` from a local folder, every weight loaded.

    ``overrides`` update the folder's model config. Checkpoint keys the
    model lacks (a classification head, ViT's pooler) are ignored; weights
    the checkpoint lacks are an error, as a frozen encoder would otherwise
    keep them random.
    """
    check_folder(folder, owner)
    model, info = spec.model_cls.from_pretrained(
        folder, local_files_only=True, dtype=torch.float32,
        output_loading_info=True, **(overrides or {}), **spec.model_kwargs)
    missing = sorted(info['missing_keys'])
    mismatched = sorted(str(k) for k in info['mismatched_keys'])
    if missing or mismatched:
        raise RuntimeError(
            f'{owner}: {folder!r} is not a complete '
            f'{spec.model_cls.__name__} checkpoint; missing: {missing[:5]}'
            f'{" ..." if len(missing) > 5 else ""}, wrong shape: '
            f'{mismatched[:5]}')
    return model


def build_model(spec: ModelSpec, owner: str, pretrained: str | None,
                config: dict | None) -> nn.Module:
    """Load ``spec.model_cls`` from a local folder (``config`` entries, if
    any, override the folder's), or build it randomly initialised from
    ``config`` (kwargs of ``spec.config_cls``)."""
    if pretrained is not None:
        return load_pretrained(spec, owner, pretrained, config)
    if config is None:
        raise ValueError(f'{owner}: give `pretrained` (a local folder) or '
                         '`config` (a dict of model config kwargs)')
    return spec.model_cls(spec.config_cls(**config), **spec.model_kwargs)


# --- any Hugging Face encoder (model_type='auto') ---------------------------


def read_auto_config(folder: str, owner: str) -> PretrainedConfig:
    """``AutoConfig`` of a local folder; an unknown architecture is an
    error naming the folder's config.json."""
    check_folder(folder, owner)
    try:
        return AutoConfig.from_pretrained(folder, local_files_only=True)
    except (ValueError, KeyError) as err:
        raise ValueError(
            f'{owner}: {osp.join(folder, "config.json")}: unsupported '
            f'architecture for transformers\' AutoConfig ({str(err)[:200]})'
        ) from err


def tower_config(config: PretrainedConfig, tower: str) -> PretrainedConfig:
    """The ``vision`` / ``text`` tower's config of a dual encoder (CLIP,
    SigLIP: ``config.vision_config``), else ``config`` itself."""
    sub = getattr(config, f'{tower}_config', None)
    return sub if isinstance(sub, PretrainedConfig) else config


def auto_spec(config: PretrainedConfig, owner: str, source: str) -> ModelSpec:
    """The ``AutoModel`` class of a (tower) config, built without a pooler
    when the class has one to drop (only the hidden states are read)."""
    if getattr(config, 'is_encoder_decoder', False):
        raise ValueError(
            f'{owner}: {source}: {config.model_type!r} is an encoder-decoder '
            'model; give a folder of an encoder (e.g. T5EncoderModel)')
    try:
        model_cls = AutoModel._model_mapping[type(config)]
    except KeyError as err:
        raise ValueError(
            f'{owner}: {source}: transformers has no AutoModel class for '
            f'model_type {config.model_type!r}') from err
    if isinstance(model_cls, (list, tuple)):
        model_cls = model_cls[0]
    kwargs = {}
    if 'add_pooling_layer' in inspect.signature(model_cls.__init__).parameters:
        kwargs['add_pooling_layer'] = False
    return ModelSpec(type(config), model_cls, kwargs)


def build_auto_model(owner: str, tower: str, pretrained: str | None,
                     config: dict | None) -> nn.Module:
    """Any Hugging Face encoder through ``AutoConfig`` / ``AutoModel``.

    Args:
        owner (str): the encoder class, for error messages.
        tower (str): ``'vision'`` or ``'text'``: the tower taken from a
            dual-encoder folder.
        pretrained (str | None): local folder (``config.json`` + weights),
            loaded with ``local_files_only=True``, every weight required.
        config (dict | None): with ``pretrained``, attributes set on the
            folder's (tower) config; without, the config of a randomly
            initialised model, ``model_type`` included (kwargs of
            ``AutoConfig.for_model``).
    """
    if pretrained is not None:
        full = read_auto_config(pretrained, owner)
        sub = tower_config(full, tower)
        for key, value in (config or {}).items():
            setattr(sub, key, value)
        spec = auto_spec(sub, owner, osp.join(pretrained, 'config.json'))
        return load_pretrained(spec, owner, pretrained, dict(config=sub))
    if config is None or 'model_type' not in config:
        raise ValueError(
            f"{owner}: model_type='auto' needs `pretrained` (a local folder) "
            "or `config` with its `model_type` (e.g. dict(model_type='bert', "
            'hidden_size=32, ...))')
    kwargs = dict(config)
    name = kwargs.pop('model_type')
    try:
        full = AutoConfig.for_model(name, **kwargs)
    except ValueError as err:
        raise ValueError(f'{owner}: unsupported model_type {name!r} '
                         f'({str(err)[:120]} ...)') from err
    sub = tower_config(full, tower)
    spec = auto_spec(sub, owner, f'config model_type {name!r}')
    return spec.model_cls(sub, **spec.model_kwargs)


def build_encoder_model(table: dict, model_type: str, tower: str, owner: str,
                        pretrained: str | None,
                        config: dict | None) -> tuple[nn.Module, ModelSpec | None]:
    """A named spec's model (:func:`build_model`) or, for ``'auto'``,
    :func:`build_auto_model`'s; returned with the spec (None for auto)."""
    spec = lookup(table, model_type, owner)
    if spec is None:
        return build_auto_model(owner, tower, pretrained, config), None
    return build_model(spec, owner, pretrained, config), spec


def hidden_width(config: PretrainedConfig) -> int:
    """Width of a model's last hidden state: ``hidden_size``, or the last
    of ``hidden_sizes`` (convolutional models)."""
    if getattr(config, 'hidden_size', None):
        return int(config.hidden_size)
    sizes = getattr(config, 'hidden_sizes', None)
    if sizes:
        return int(sizes[-1])
    raise AttributeError(f'{type(config).__name__} has neither hidden_size '
                         'nor hidden_sizes')
