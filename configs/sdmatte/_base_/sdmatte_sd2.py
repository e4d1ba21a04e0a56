# SDMatte's network at the paper's size: Stable Diffusion 2's UNet (conv_in widened to 8
# channels: image latent + prompt latent), VAE and text encoder
# (configs/_base_/models/stable_diffusion_2.py), so that a converted checkpoint alone
# runs the model (nothing is downloaded). Training starts from the Stable Diffusion 2
# weights in local folders:
#   --cfg-options model.pretrained.unet=PATH/stable-diffusion-2/unet \
#       model.pretrained.vae=PATH/stable-diffusion-2/vae \
#       model.pretrained.text_encoder=PATH/stable-diffusion-2/text_encoder
_base_ = ['../../_base_/models/stable_diffusion_2.py']

model = dict(
    type='SDMatte',
    # stabilityai/stable-diffusion-2: in_channels 8 (grafted conv_in: image latent + prompt
    # latent) and class_embed_type='identity' (the coordinate embedding is added to the
    # time one); the text encoder is only used to compute the empty-caption embedding (the
    # converter, or training from model.pretrained.text_encoder): checkpoints store it
    unet=dict(in_channels=8, class_embed_type='identity'),
    prompt=dict(box_coord_channels=320, point_embed_dim=1680, max_points=10,
                masked_self_attention=('down', 'mid', 'up'), prompt_cross_attention=('mid', ),
                attention_mask=True),
    # 'zero_all' is the original's initialisation (both layers zero: the first never
    # learns); new training uses 'zero_last'. Converted checkpoints carry their weights.
    coord_mlp_init='zero_last',
    loss=dict(type='SDMatteLoss'),
    train_cfg=dict(prompt_types=('points', 'boxes', 'mask'), point_sigma=25.0),
    test_cfg=dict(image_size=1024, prompt_order=('boxes', 'points', 'mask'), point_sigma=35.0),
)
