# The tiny text-grounded model (shared by tdm_tiny_stage{1,2}_synthetic-referring.py):
# the paper's method at toy size: a 2-level UNet (32, 64) with cross-attention to a
# one-layer random text encoder (the committed tiny tokenizer, 40 tokens), the frozen
# tiny KL VAE of configs/sdmatte/latent_codec_kl_tiny_synthetic.py (4x downsampling),
# the coarse path at 64 x 64 (the paper's 512), the two-scale sparse refiner on the
# 128 x 128 input (the paper's up to 2048): 64 first, then 128.
coarse_size = 64

model = dict(
    type='TDM',
    data_preprocessor=dict(type='MattorPreprocessor', mean=[127.5] * 3, std=[127.5] * 3,
                           bgr_to_rgb=True),  # the image in [-1, 1]
    unet=dict(sample_size=coarse_size // 4, in_channels=4, out_channels=4,
              block_out_channels=(32, 64), layers_per_block=1,
              down_block_types=('CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'),
              up_block_types=('CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'),
              mid_block_type='UNetMidBlock2DCrossAttn', cross_attention_dim=32,
              attention_head_dim=(2, 4), norm_num_groups=8, use_linear_projection=True,
              flip_sin_to_cos=True, freq_shift=0),
    vae=dict(kind='kl', config=dict(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 32, 32),
        layers_per_block=1, norm_num_groups=8,
        down_block_types=('DownEncoderBlock2D', ) * 3, up_block_types=('UpDecoderBlock2D', ) * 3,
        scaling_factor=0.18215)),
    text_encoder=dict(
        tokenizer='{{ fileDirname }}/../tiny_tokenizer', max_length=40,  # the committed one
        config=dict(vocab_size=384, hidden_size=32, intermediate_size=64,
                    num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=40,
                    bos_token_id=321, eos_token_id=322, pad_token_id=322)),
    feature_blocks=(0, 1),
    timestep=999,
    decoder=dict(channels=32, detail_channels=8, min_channels=16, norm_groups=8),
    refiner=dict(layers=(('subm', 16), ('sparse', 16), ('subm', 16)), max_long_edge=128,
                 half_first_above=64, paste_erode=3),
    # the trimap target's kernel: 15 at 512 px -> 2 at 64 px; odd: 3
    loss=dict(type='TDMLoss', trimap_kernel=3),
    train_cfg=dict(refine=True, allow_scratch=True),
    test_cfg=dict(image_size=coarse_size, refine=True),
)
