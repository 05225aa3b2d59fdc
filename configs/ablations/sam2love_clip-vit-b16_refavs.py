# Table 2, first row: CLIP's text and vision encoders (ViT-B/16 assumed; the
# paper does not name the size) instead of DistilRoBERTa and the ImageNet
# ViT. Point the paths at local Hugging Face folders of a CLIP model.
clip_pretrained = None  # e.g. 'checkpoints/clip-vit-base-patch16'
_base_ = ['../sam2love_refavs.py']
model = dict(
    backbone=dict(
        vision=dict(
            _delete_=True,
            type='HFVisionEncoder',
            model_type='clip_vision',
            pretrained=clip_pretrained,
            config=dict(
                hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                intermediate_size=3072, image_size=224, patch_size=16,
                projection_dim=512, hidden_act='quick_gelu',
                layer_norm_eps=1e-5)),
        text=dict(
            _delete_=True,
            type='HFTextEncoder',
            model_type='clip_text',
            pretrained=clip_pretrained,
            max_length=25,
            config=dict(
                hidden_size=512, num_hidden_layers=12, num_attention_heads=8,
                intermediate_size=2048, max_position_embeddings=77,
                vocab_size=49408, projection_dim=512,
                hidden_act='quick_gelu', layer_norm_eps=1e-5))),
    neck=dict(text_dim=512, vision_dim=768))
