# A tiny TAESD-style VAE (AutoencoderTiny, 3 blocks: 4x downsampling like the tiny KL VAE, so that
# LiteSDMatte's features match its tiny SDMatte teacher's; 4 latent channels) trained
# to reconstruct the synthetic images and alpha mattes: the frozen VAE of
# litesdmatte_tiny_synthetic.py (LiteSDMatte uses TAESD). A couple of CPU minutes:
#   python tools/train.py configs/sdmatte/latent_codec_taesd_tiny_synthetic.py
# Data, schedule and test as latent_codec_kl_tiny_synthetic.py; only the VAE differs.
_base_ = ['./latent_codec_kl_tiny_synthetic.py']

experiment_name = 'latent_codec_taesd_tiny_synthetic'
work_dir = f'./work_dirs/{experiment_name}'

# keep in sync with model.vae of litesdmatte_tiny_synthetic.py
model = dict(vae=dict(_delete_=True, kind='tiny', config=dict(
    in_channels=3, out_channels=3, encoder_block_out_channels=(16, 16, 16),
    decoder_block_out_channels=(16, 16, 16), act_fn='relu', upsample_fn='nearest',
    latent_channels=4, upsampling_scaling_factor=2, num_encoder_blocks=(1, 1, 1),
    num_decoder_blocks=(1, 1, 1), latent_magnitude=3, latent_shift=0.5,
    scaling_factor=1.0)))
