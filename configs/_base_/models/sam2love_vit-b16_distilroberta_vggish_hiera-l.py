# SAM2-LOVE as in the paper: ViT-B/16 (ImageNet, 224), DistilRoBERTa,
# VGGish, fusion D = 1024 with 6 blocks and 1 [seg] token, history on,
# SAM2.1-Hiera-L. Point the paths at local weights; with None each part is
# built from its config with random weights (no download ever happens).
sam2_checkpoint = None  # e.g. 'checkpoints/sam2.1_hiera_large.pt'
vit_pretrained = None  # a local HF folder, e.g. of google/vit-base-patch16-224
text_pretrained = None  # a local HF folder of distilroberta-base
vggish_checkpoint = None  # torchvggish's vggish-10086976.pth

embed_dim = 1024
model = dict(
    type='SAM2LOVE',
    data_preprocessor=dict(
        type='ClipDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375]),
    backbone=dict(
        type='TriModalBackbone',
        audio=dict(
            type='VGGishEncoder',
            checkpoint=vggish_checkpoint,
            num_examples=10),  # one 0.96 s example a second: a clip's 10 frames
        vision=dict(
            type='HFVisionEncoder',
            pretrained=vit_pretrained,
            model_type='vit',
            config=dict(
                hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                intermediate_size=3072, image_size=224, patch_size=16,
                hidden_act='gelu', layer_norm_eps=1e-12, qkv_bias=True)),
        text=dict(
            type='HFTextEncoder',
            pretrained=text_pretrained,
            model_type='roberta',
            max_length=25,
            config=dict(
                hidden_size=768, num_hidden_layers=6, num_attention_heads=12,
                intermediate_size=3072, vocab_size=50265,
                max_position_embeddings=514, type_vocab_size=1,
                pad_token_id=1, bos_token_id=0, eos_token_id=2,
                layer_norm_eps=1e-5, hidden_act='gelu'))),
    neck=dict(
        type='FusionTokenNeck',
        audio_dim=128,
        text_dim=768,
        vision_dim=768,
        embed_dim=embed_dim,
        num_layers=6,
        num_heads=16,
        num_seg_tokens=1,
        use_history=True,
        fusion='token'),
    decode_head=dict(
        type='SAM2PromptHead',
        in_channels=embed_dim,
        sam2_config='sam2.1_hiera_l',
        checkpoint=sam2_checkpoint,
        trainable='paper',  # prompt encoder + mask decoder (Table 6)
        loss_mask=dict(type='BCEDiceLoss', bce_weight=1.0, dice_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
