"""``TeacherWarmupHook``: SAM2's heads first learn from the teacher alone."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


@HOOKS.register_module()
class TeacherWarmupHook(Hook):
    """For the first ``iters`` training iterations, SAM2's prompt encoder
    and mask decoder learn only from frame 0 decoded from the referents'
    prototypes (``loss_align``'s teacher token); the fused tokens' mask
    losses train the neck and the token projection through the detached
    heads. From iteration ``iters`` on, every loss trains the heads.

    The fused tokens start as noise; a decoder fitted to them early learns
    to ignore its token (the every-object mask), which the teacher alone
    does not teach it (docs/token_path.md).

    Args:
        iters (int): warm-up iterations (> 0).
    """

    priority = 'NORMAL'

    def __init__(self, iters: int) -> None:
        if iters <= 0:
            raise ValueError(f'TeacherWarmupHook: iters must be > 0, got {iters}')
        self.iters = iters

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        head = model.decode_head
        if getattr(head, 'loss_align', None) is None or \
                not head.loss_align.teacher_weight:
            raise ValueError('TeacherWarmupHook needs a decode head whose '
                             'loss_align has a teacher (teacher_weight > 0)')
        head.fused_trains_heads = runner.iter >= self.iters

    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        model.decode_head.fused_trains_heads = True
