# A tiny LiteSDMatte on the synthetic data: the tiny SDMatte's UNet with a tiny TAESD-style
# VAE (fed [0, 1] images as the original), trained with SDMatte's losses plus feature
# distillation from a trained tiny SDMatte (0.01 x the MSE of the last down block, the mid
# block and the last up block):
#   python tools/train.py configs/sdmatte/latent_codec_taesd_tiny_synthetic.py
#   python tools/train.py configs/sdmatte/litesdmatte_tiny_synthetic.py --cfg-options \
#       model.pretrained.vae=work_dirs/latent_codec_taesd_tiny_synthetic/iter_800.pth \
#       model.distill.teacher_checkpoint=work_dirs/sdmatte_tiny_synthetic/iter_1000.pth
_base_ = ['./sdmatte_tiny_synthetic.py']

experiment_name = 'litesdmatte_tiny_synthetic'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    vae=dict(_delete_=True, kind='tiny', tiny_input_zero_one=True, config=dict(
        in_channels=3, out_channels=3, encoder_block_out_channels=(16, 16, 16),
        decoder_block_out_channels=(16, 16, 16), act_fn='relu', upsample_fn='nearest',
        latent_channels=4, upsampling_scaling_factor=2, num_encoder_blocks=(1, 1, 1),
        num_decoder_blocks=(1, 1, 1), latent_magnitude=3, latent_shift=0.5,
        scaling_factor=1.0)),
    # model.pretrained.vae and model.distill.teacher_checkpoint: see the commands above
    distill=dict(teacher_config='configs/sdmatte/sdmatte_tiny_synthetic.py',
                 teacher_checkpoint=None, weight=0.01),
)
