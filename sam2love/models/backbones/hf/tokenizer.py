"""Tokenizers of :class:`~.HFTextEncoder`: a byte-level BPE generated on the
fly (no file, no download) or a local folder's ``AutoTokenizer``."""
import os.path as osp
from functools import lru_cache

from tokenizers import Tokenizer, decoders, pre_tokenizers, processors, trainers
from tokenizers.models import BPE
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from .bpe_corpus import BPE_CORPUS

#: RoBERTa's special tokens; in this order they get RoBERTa's ids for
#: ``<s>`` (0), ``<pad>`` (1), ``</s>`` (2) and ``<unk>`` (3).
SPECIAL_TOKENS = ('<s>', '<pad>', '</s>', '<unk>', '<mask>')

#: Files holding a tokenizer's vocabulary (one is needed in a folder).
TOKENIZER_FILES = ('tokenizer.json', 'vocab.txt', 'vocab.json',
                   'sentencepiece.bpe.model', 'spiece.model', 'tokenizer.model')


@lru_cache(maxsize=4)
def _trained_bpe(vocab_size: int) -> str:
    """Train the byte-level BPE once per process; its JSON serialisation."""
    tokenizer = Tokenizer(BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, show_progress=False,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(BPE_CORPUS, trainer)
    return tokenizer.to_str()


def build_bpe_tokenizer(vocab_size: int = 1000,
                        model_max_length: int = 512) -> PreTrainedTokenizerFast:
    """A RoBERTa-style byte-level BPE tokenizer that needs no file.

    It is trained on :data:`~.bpe_corpus.BPE_CORPUS` (fixed) with RoBERTa's
    special tokens and post-processing (``<s> ... </s>``), so the same
    ``tokenizers`` version always gives the same ids. Any text can be
    encoded (byte-level: no unknown tokens). The trained vocabulary is
    smaller than ``vocab_size`` when the corpus runs out of merges.

    Args:
        vocab_size (int): upper bound of the vocabulary.
        model_max_length (int): longest input the tokenizer accepts.

    Returns:
        PreTrainedTokenizerFast: can be saved with ``save_pretrained``.
    """
    tokenizer = Tokenizer.from_str(_trained_bpe(vocab_size))
    tokenizer.post_processor = processors.RobertaProcessing(
        ('</s>', tokenizer.token_to_id('</s>')),
        ('<s>', tokenizer.token_to_id('<s>')),
        trim_offsets=True, add_prefix_space=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, model_max_length=model_max_length,
        bos_token='<s>', eos_token='</s>', sep_token='</s>', cls_token='<s>',
        unk_token='<unk>', pad_token='<pad>', mask_token='<mask>')


def load_tokenizer(folder: str | None,
                   owner: str = 'HFTextEncoder') -> PreTrainedTokenizerFast:
    """The ``AutoTokenizer`` of a local folder, or the generated
    :func:`build_bpe_tokenizer` when ``folder`` is None.

    A folder without a vocabulary file (:data:`TOKENIZER_FILES`), or whose
    tokenizer holds only special tokens, is an error naming the folder."""
    if folder is None:
        return build_bpe_tokenizer()
    if not osp.isdir(folder):
        raise FileNotFoundError(
            f'{owner}: tokenizer folder {folder!r} does not exist '
            '(a local Hugging Face folder is needed: nothing is '
            'downloaded)')
    problem = 'it has no vocabulary file (one of ' \
        f'{", ".join(TOKENIZER_FILES)})'
    if any(osp.isfile(osp.join(folder, name)) for name in TOKENIZER_FILES):
        try:
            tokenizer = AutoTokenizer.from_pretrained(
                folder, local_files_only=True)
        except (OSError, ValueError, KeyError) as err:
            problem = str(err)[:200]
        else:
            # transformers builds an empty-vocabulary tokenizer from a
            # config alone: every word would be unknown
            if len(tokenizer) > len(tokenizer.all_special_tokens):
                return tokenizer
            problem = 'its vocabulary holds only special tokens'
    raise ValueError(f'{owner}: no tokenizer AutoTokenizer can load '
                     f'in {folder!r}: {problem}')
