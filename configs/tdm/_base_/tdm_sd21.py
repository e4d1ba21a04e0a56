# TDM's network at the paper's size: Stable Diffusion 2.1's UNet, VAE and text encoder
# (OpenCLIP ViT-H/14 text tower; configs/_base_/models/stable_diffusion_2.py), so that a
# converted or trained checkpoint alone runs the model (nothing is downloaded).
# Training starts from the Stable Diffusion 2.1 weights in local folders:
#   --cfg-options model.pretrained.unet=PATH/stable-diffusion-2-1/unet \
#       model.pretrained.vae=PATH/stable-diffusion-2-1/vae \
#       model.pretrained.text_encoder=PATH/stable-diffusion-2-1/text_encoder \
#       model.text_encoder.tokenizer=PATH/stable-diffusion-2-1/tokenizer
# (the tokenizer is needed to run the model at all: it turns the expression into ids).
# Known (paper): 512 x 512 input, 40 text tokens, one UNet step at a fixed timestep,
# decoder heads (trimap / alpha / detail), composite alpha, two-scale sparse refiner.
# Documented guesses (configs/tdm/README.md): timestep 999, in_channels 4, the text
# layer, the decoder's and refiner's widths, which up blocks the decoder reads.
_base_ = ['../../_base_/models/stable_diffusion_2.py']

model = dict(
    type='TDM',
    # stabilityai/stable-diffusion-2-1: upcast_attention (only matters in half
    # precision); in_channels 4: the image latent alone (8 adds a zero latent, conv_in
    # grafted with zeros there)
    unet=dict(upcast_attention=True),
    # the frozen text encoder; 40 tokens (the paper); layer=None: the last hidden state
    # after the final layer norm, as Stable Diffusion 2 (whose converted tower already
    # stops at OpenCLIP's penultimate layer)
    text_encoder=dict(tokenizer=None, max_length=40, layer=None, final_norm=True),
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
