# A tiny random-init SAM2-LOVE for tests and the CPU demo: every part has
# the paper's structure at a fraction of its width; no file is needed (the
# text encoder uses a BPE tokenizer generated on the fly).
embed_dim = 32
model = dict(
    type='SAM2LOVE',
    data_preprocessor=dict(type='ClipDataPreprocessor'),
    backbone=dict(
        type='TriModalBackbone',
        audio=dict(
            type='VGGishEncoder',
            num_examples=10,  # = frames per clip (one a second)
            channels=(8, 16, 32, 32, 64, 64),
            hidden=64,
            # PyTorch's default init makes a random VGGish give the same
            # vector for every sound; Kaiming keeps them apart
            init_cfg=dict(type='Kaiming', layer=['Conv2d', 'Linear'],
                          distribution='normal')),
        vision=dict(
            type='HFVisionEncoder',
            model_type='vit',
            config=dict(
                hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=64, image_size=32, patch_size=8)),
        text=dict(
            type='HFTextEncoder',
            model_type='roberta',
            max_length=25,
            config=dict(
                hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=64, max_position_embeddings=64,
                type_vocab_size=1))),
    neck=dict(
        type='FusionTokenNeck',
        audio_dim=128,
        text_dim=32,
        vision_dim=32,
        embed_dim=embed_dim,
        num_layers=2,
        num_heads=4,
        num_seg_tokens=1,
        use_history=True),
    decode_head=dict(
        type='SAM2PromptHead',
        in_channels=embed_dim,
        sam2_config='sam2.1_hiera_t',
        sam2_overrides='small',
        image_size=128,
        trainable='paper'),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
