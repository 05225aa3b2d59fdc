# The paper's training engine: DeepSpeed ZeRO-2 (FlexibleRunner +
# DeepSpeedStrategy), bf16, micro-batch 4 per GPU x 2 GPUs, accumulation 2.
# GPU only (ZeRO-2 fails on CPU); needs the optional extra:
#   SAM2LOVE_EXTRAS=deepspeed bash tools/setup_env.sh
#   tools/dist_train.sh configs/sam2love_refavs_deepspeed.py 2
_base_ = ['./sam2love_refavs.py']

runner_type = 'FlexibleRunner'
strategy = dict(
    type='DeepSpeedStrategy',
    bf16=dict(enabled=True),
    zero_optimization=dict(
        stage=2,
        allgather_partitions=True,
        reduce_scatter=True,
        allgather_bucket_size=50000000,
        reduce_bucket_size=50000000,
        overlap_comm=True,
        contiguous_gradients=True,
        cpu_offload=False),
    train_micro_batch_size_per_gpu=4,
    gradient_accumulation_steps=2,
    # frozen encoders and SAM2 parts are not in the optimizer's state
    exclude_frozen_parameters=True)
# DeepSpeed accumulates gradients itself
optim_wrapper = dict(
    _delete_=True,
    type='DeepSpeedOptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=0.0))
