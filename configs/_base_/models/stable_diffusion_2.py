# Stable Diffusion 2 / 2.1 at 768 px (stabilityai/stable-diffusion-2 and -2-1: the same
# architecture; 2.1 sets upcast_attention, which only matters in half precision): the
# UNet, the VAE and the text encoder (OpenCLIP ViT-H/14 text tower) as diffusers /
# transformers configs, written out so that a checkpoint alone runs a model (nothing is
# downloaded). The latent-diffusion matting configs (SDMatte, TDM) inherit it and change
# what their model changes (e.g. SDMatte's 8-channel conv_in). Weights come from local
# folders: model.pretrained.unet / .vae / .text_encoder.
model = dict(
    # the image in [-1, 1] (Stable Diffusion's VAE input: x / 255 * 2 - 1)
    data_preprocessor=dict(type='MattorPreprocessor', mean=[127.5] * 3, std=[127.5] * 3,
                           bgr_to_rgb=True),
    # unet/config.json
    unet=dict(
        sample_size=96, in_channels=4, out_channels=4, center_input_sample=False,
        flip_sin_to_cos=True, freq_shift=0,
        down_block_types=('CrossAttnDownBlock2D', 'CrossAttnDownBlock2D',
                          'CrossAttnDownBlock2D', 'DownBlock2D'),
        mid_block_type='UNetMidBlock2DCrossAttn',
        up_block_types=('UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D',
                        'CrossAttnUpBlock2D'),
        block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, downsample_padding=1,
        mid_block_scale_factor=1, act_fn='silu', norm_num_groups=32, norm_eps=1e-5,
        cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20),
        use_linear_projection=True, upcast_attention=False),
    # vae/config.json
    vae=dict(kind='kl', config=dict(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512),
        layers_per_block=2, act_fn='silu', norm_num_groups=32, sample_size=768,
        down_block_types=('DownEncoderBlock2D', ) * 4, up_block_types=('UpDecoderBlock2D', ) * 4,
        scaling_factor=0.18215)),
    # text_encoder/config.json
    text_encoder=dict(config=dict(
        vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23,
        num_attention_heads=16, max_position_embeddings=77, hidden_act='gelu',
        layer_norm_eps=1e-5, projection_dim=512, bos_token_id=0, eos_token_id=2,
        pad_token_id=1)),
    pretrained=dict(unet=None, vae=None, text_encoder=None),
)
