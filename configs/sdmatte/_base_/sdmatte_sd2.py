# SDMatte's network at the paper's size: Stable Diffusion 2's UNet (conv_in widened to 8
# channels: image latent + prompt latent), VAE and text encoder, written out here so that
# a converted checkpoint alone runs the model (nothing is downloaded). Training starts
# from the Stable Diffusion 2 weights in local folders:
#   --cfg-options model.pretrained.unet=PATH/stable-diffusion-2/unet \
#       model.pretrained.vae=PATH/stable-diffusion-2/vae \
#       model.pretrained.text_encoder=PATH/stable-diffusion-2/text_encoder
model = dict(
    type='SDMatte',
    # the image in [-1, 1], as the original's Normalize (x / 255 * 2 - 1)
    data_preprocessor=dict(type='MattorPreprocessor', mean=[127.5] * 3, std=[127.5] * 3,
                           bgr_to_rgb=True),
    # stabilityai/stable-diffusion-2 unet/config.json; in_channels 8 (grafted conv_in) and
    # class_embed_type='identity' (the coordinate embedding is added to the time one);
    # upcast_attention only matters in half precision
    unet=dict(
        sample_size=96, in_channels=8, out_channels=4, center_input_sample=False,
        flip_sin_to_cos=True, freq_shift=0,
        down_block_types=('CrossAttnDownBlock2D', 'CrossAttnDownBlock2D',
                          'CrossAttnDownBlock2D', 'DownBlock2D'),
        mid_block_type='UNetMidBlock2DCrossAttn',
        up_block_types=('UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D',
                        'CrossAttnUpBlock2D'),
        block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, downsample_padding=1,
        mid_block_scale_factor=1, act_fn='silu', norm_num_groups=32, norm_eps=1e-5,
        cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20),
        use_linear_projection=True, upcast_attention=False, class_embed_type='identity'),
    # stabilityai/stable-diffusion-2 vae/config.json
    vae=dict(kind='kl', config=dict(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512),
        layers_per_block=2, act_fn='silu', norm_num_groups=32, sample_size=768,
        down_block_types=('DownEncoderBlock2D', ) * 4, up_block_types=('UpDecoderBlock2D', ) * 4,
        scaling_factor=0.18215)),
    # stabilityai/stable-diffusion-2 text_encoder/config.json (OpenCLIP ViT-H/14 text tower):
    # only used to compute the empty-caption embedding (the converter, or training from
    # model.pretrained.text_encoder); the checkpoints store that embedding
    text_encoder=dict(config=dict(
        vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23,
        num_attention_heads=16, max_position_embeddings=77, hidden_act='gelu',
        layer_norm_eps=1e-5, projection_dim=512, bos_token_id=0, eos_token_id=2,
        pad_token_id=1)),
    pretrained=dict(unet=None, vae=None, text_encoder=None),
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
