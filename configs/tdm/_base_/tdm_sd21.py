# TDM's network at the paper's size: Stable Diffusion 2.1's UNet, VAE and text encoder
# (OpenCLIP ViT-H/14 text tower), written out here so that a converted or trained
# checkpoint alone runs the model (nothing is downloaded). Training starts from the
# Stable Diffusion 2.1 weights in local folders:
#   --cfg-options model.pretrained.unet=PATH/stable-diffusion-2-1/unet \
#       model.pretrained.vae=PATH/stable-diffusion-2-1/vae \
#       model.pretrained.text_encoder=PATH/stable-diffusion-2-1/text_encoder \
#       model.text_encoder.tokenizer=PATH/stable-diffusion-2-1/tokenizer
# (the tokenizer is needed to run the model at all: it turns the expression into ids).
# Known (paper): 512 x 512 input, 40 text tokens, one UNet step at a fixed timestep,
# decoder heads (trimap / alpha / detail), composite alpha, two-scale sparse refiner.
# Documented guesses (configs/tdm/README.md): timestep 999, in_channels 4, the text
# layer, the decoder's and refiner's widths, which up blocks the decoder reads.
model = dict(
    type='TDM',
    # the image in [-1, 1] (Stable Diffusion's VAE input)
    data_preprocessor=dict(type='MattorPreprocessor', mean=[127.5] * 3, std=[127.5] * 3,
                           bgr_to_rgb=True),
    # stabilityai/stable-diffusion-2-1 unet/config.json (in_channels 4: the image
    # latent alone; 8 adds a zero latent, conv_in grafted with zeros there);
    # upcast_attention only matters in half precision
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
        use_linear_projection=True, upcast_attention=True),
    # stabilityai/stable-diffusion-2-1 vae/config.json (frozen; posterior mode)
    vae=dict(kind='kl', config=dict(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512),
        layers_per_block=2, act_fn='silu', norm_num_groups=32, sample_size=768,
        down_block_types=('DownEncoderBlock2D', ) * 4, up_block_types=('UpDecoderBlock2D', ) * 4,
        scaling_factor=0.18215)),
    # stabilityai/stable-diffusion-2-1 text_encoder/config.json (frozen); 40 tokens (the
    # paper); layer=None: the last hidden state after the final layer norm, as Stable
    # Diffusion 2 (whose converted tower already stops at OpenCLIP's penultimate layer)
    text_encoder=dict(
        tokenizer=None, max_length=40, layer=None, final_norm=True,
        config=dict(vocab_size=49408, hidden_size=1024, intermediate_size=4096,
                    num_hidden_layers=23, num_attention_heads=16, max_position_embeddings=77,
                    hidden_act='gelu', layer_norm_eps=1e-5, projection_dim=512,
                    bos_token_id=0, eos_token_id=2, pad_token_id=1)),
    pretrained=dict(unet=None, vae=None, text_encoder=None),
    # the decoder reads the outputs of the last three up blocks (1/16, 1/8, 1/8 of 512)
    feature_blocks=(1, 2, 3),
    timestep=999,
    decoder=dict(channels=256, detail_channels=16, min_channels=32, norm_groups=32),
    refiner=dict(layers=(('subm', 32), ('sparse', 32), ('subm', 32), ('subm', 32)),
                 kernel_size=3, max_long_edge=2048, half_first_above=1024, band='trimap',
                 band_threshold=0.5, paste_erode=3, backend='auto'),
    loss=dict(type='TDMLoss', trimap_kernel=15),
    train_cfg=dict(refine=True),
    test_cfg=dict(image_size=512, refine=True),
)
