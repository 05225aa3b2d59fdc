# SAM2-LOVE on Ref-AVS, the paper's recipe: SAM2.1-Hiera-L, ViT-B/16,
# DistilRoBERTa, VGGish, D = 1024, 6 fusion blocks, 1 [seg] token, history
# on; AdamW lr 1e-4, weight decay 0, 100 warm-up steps then decay, batch 8
# (2 GPUs x 4), gradient accumulation 2, BCE + Dice 1 : 1 on frame 0.
#   tools/dist_train.sh configs/sam2love_refavs.py 2
#   tools/dist_test.sh configs/sam2love_refavs.py work_dirs/.../iter_20000.pth 2
# (DeepSpeed ZeRO-2 as in the paper: configs/sam2love_refavs_deepspeed.py)

# Local weights; None builds that part with random weights.
sam2_checkpoint = None  # 'checkpoints/sam2.1_hiera_large.pt'
vit_pretrained = None  # 'checkpoints/vit-base-patch16-224' (HF folder)
text_pretrained = None  # 'checkpoints/distilroberta-base' (HF folder)
vggish_checkpoint = None  # 'checkpoints/vggish-10086976.pth'
data_root = 'data/refavs'

_base_ = [
    './_base_/models/sam2love_vit-b16_distilroberta_vggish_hiera-l.py',
    './_base_/datasets/refavs.py', './_base_/default_runtime.py',
    './_base_/schedules/schedule_20k_paper.py'
]
model = dict(
    backbone=dict(
        audio=dict(checkpoint=vggish_checkpoint),
        vision=dict(pretrained=vit_pretrained),
        text=dict(pretrained=text_pretrained)),
    decode_head=dict(checkpoint=sam2_checkpoint))
train_dataloader = dict(batch_size=4, dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
# the three test splits in one pass; the metric reports each and Mix
test_dataloader = dict(
    dataset=dict(data_root=data_root, split=['test_s', 'test_u', 'test_n']))
val_evaluator = dict(type='RefAVSMetric')
test_evaluator = dict(type='RefAVSMetric')
