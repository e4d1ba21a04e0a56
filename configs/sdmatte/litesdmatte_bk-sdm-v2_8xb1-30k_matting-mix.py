# LiteSDMatte: a BK-SDM-v2 UNet (SD 2.1-base with one residual + attention pair removed
# from every stage; the mid block, where the visual-prompt cross-attention is, kept: the
# "Base" variant) and the tiny VAE (TAESD, AutoencoderTiny), trained with SDMatte's
# losses plus feature distillation from a trained SDMatte (0.01 x the MSE between the
# outputs of the last down block, the mid block and the last up block).
# The released LiteSDMatte's exact UNet config is not public: tools/convert/sdmatte.py
# checks every key and shape of a release against this config and says what differs.
#   bash tools/dist_train.sh configs/sdmatte/litesdmatte_bk-sdm-v2_8xb1-30k_matting-mix.py 8 \
#       --cfg-options model.pretrained.unet=PATH/bk-sdm-v2-base/unet \
#       model.pretrained.vae=PATH/taesd model.pretrained.text_encoder=PATH/text_encoder \
#       model.distill.teacher_checkpoint=SDMatte.pth
_base_ = ['./sdmatte_sd2_8xb1-30k_matting-mix.py']

experiment_name = 'litesdmatte_bk-sdm-v2_8xb1-30k_matting-mix'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    unet=dict(sample_size=64, layers_per_block=1),
    # madebyollin/taesd config.json; the original feeds the tiny encoder [0, 1] images,
    # which it maps once more: kept for the released weights
    vae=dict(_delete_=True, kind='tiny', tiny_input_zero_one=True, config=dict(
        in_channels=3, out_channels=3, encoder_block_out_channels=(64, 64, 64, 64),
        decoder_block_out_channels=(64, 64, 64, 64), act_fn='relu', upsample_fn='nearest',
        latent_channels=4, upsampling_scaling_factor=2, num_encoder_blocks=(1, 3, 3, 3),
        num_decoder_blocks=(3, 3, 3, 1), latent_magnitude=3, latent_shift=0.5,
        force_upcast=False, scaling_factor=1.0)),
    distill=dict(teacher_config='configs/sdmatte/sdmatte_sd2_8xb1-30k_matting-mix.py',
                 teacher_checkpoint=None, weight=0.01),
)
