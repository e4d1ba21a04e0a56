"""The latent-diffusion adapter shared by the Stable-Diffusion-based families (SDMatte,
the text-grounded model): a frozen VAE codec, a stock diffusers ``UNet2DConditionModel``
built from a config dict, weights from local folders (never downloaded), a frozen text
encoder with cached embeddings, and attention changed through attention processors
(masked self-attention on ``scaled_dot_product_attention``, cross-attention to prompt
tokens) rather than a forked UNet.

diffusers and transformers are optional (the ``diffusion`` extra): this module imports
them inside functions, and :func:`require_diffusers` says how to install them.
"""
import os
import os.path as osp
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

INSTALL_HINT = ('pip install -e ".[diffusion]"  (diffusers, transformers, safetensors; keep '
                'torch as installed)')


def require_diffusers(feature: str = 'this model'):
    """Import diffusers, or fail with an install hint naming ``feature``."""
    try:
        import diffusers
        import transformers  # noqa: F401  (the text encoders)
    except ImportError as e:
        raise ImportError(f'{feature} needs diffusers and transformers: {INSTALL_HINT} '
                          f'({e})') from None
    return diffusers


# ---------------------------------------------------------------- local weights
WEIGHT_FILES = ('diffusion_pytorch_model.safetensors', 'model.safetensors',
                'diffusion_pytorch_model.bin', 'pytorch_model.bin')


def load_folder_state_dict(folder: str, what: str) -> Dict[str, Tensor]:
    """The weights of a local diffusers / transformers component folder (``unet/``,
    ``vae/``, ``text_encoder/``): safetensors, else a ``.bin`` loaded weights-only."""
    folder = osp.expanduser(os.fspath(folder))
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{what}: folder not found: {folder} (weights are never '
                                'downloaded: give the local component folder, e.g. '
                                'stable-diffusion-2/unet)')
    for name in WEIGHT_FILES:
        path = osp.join(folder, name)
        if osp.isfile(path):
            if name.endswith('.safetensors'):
                from safetensors.torch import load_file
                return load_file(path)
            from mattebox.engine.checkpoint import load_checkpoint_file
            return load_checkpoint_file(path)
    raise FileNotFoundError(f'{what}: no weights in {folder} (looked for {", ".join(WEIGHT_FILES)})')


def load_component(module: nn.Module, source: str, prefix: str, what: str,
                   transform=None) -> Dict[str, Tensor]:
    """Load a component's weights strictly from a local diffusers / transformers folder,
    or from a mattebox checkpoint file (its ``state_dict`` keys under ``prefix``).

    Args:
        module: the component.
        source: the folder or the file.
        prefix: the component's key prefix in a mattebox checkpoint (e.g. ``'vae.vae.'``).
        what: the config key, for messages.
        transform: applied to the state dict before loading (e.g. grafting).

    Returns:
        The state dict as read (before ``transform``).
    """
    source = osp.expanduser(os.fspath(source))
    if osp.isdir(source):
        state = load_folder_state_dict(source, what)
    elif osp.isfile(source):
        from mattebox.engine.checkpoint import load_checkpoint_file, state_dict_of
        full = state_dict_of(load_checkpoint_file(source), source)
        state = {k[len(prefix):]: v for k, v in full.items() if k.startswith(prefix)}
        if not state:
            raise ValueError(f'{what}: {source} holds no {prefix}* weights')
    else:
        raise FileNotFoundError(f'{what}: no such folder or file: {source} (weights are never '
                                'downloaded)')
    check_and_load(module, transform(state) if transform else state, f'{what} ({source})')
    return state


def check_and_load(module: nn.Module, state: Dict[str, Tensor], what: str,
                   allow_missing: Sequence[str] = ()) -> None:
    """Load ``state`` strictly into ``module``, listing mismatched keys on failure."""
    own = module.state_dict()
    missing = sorted(k for k in set(own) - set(state) if not k.startswith(tuple(allow_missing)))
    unexpected = sorted(set(state) - set(own))
    shapes = [f'{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}'
              for k in sorted(set(own) & set(state)) if state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        raise ValueError(f'{what}: the weights do not fit the configured network: missing '
                         f'{missing[:5]} ({len(missing)}), unexpected {unexpected[:5]} '
                         f'({len(unexpected)}), shapes {shapes[:5]} ({len(shapes)}); is the '
                         'config the architecture of these weights?')
    module.load_state_dict(state, strict=not allow_missing)


# ------------------------------------------------------------------------- codec
class LatentCodec(nn.Module):
    """A frozen VAE: image <-> latent, as the Stable Diffusion matting models use it.

    ``kind='kl'`` (``AutoencoderKL``, SD's VAE): ``encode`` is the posterior **mean** x
    ``scaling_factor`` (encoder, ``quant_conv``); ``decode`` divides by the factor,
    applies ``post_quant_conv`` and the decoder. ``kind='tiny'`` (``AutoencoderTiny``,
    TAESD): ``vae.encode(x).latents`` x factor and ``vae.decode``; with
    ``tiny_input_zero_one`` the input is first mapped from [-1, 1] to [0, 1], which the
    tiny encoder maps once more (LiteSDMatte's released weights were trained so).

    Images are N x 3 x H x W in [-1, 1]. The codec is frozen (eval mode, no gradients to
    its weights) unless ``frozen=False`` (:class:`~.codec_trainer.LatentCodecTrainer`).

    Args:
        kind: ``'kl'`` or ``'tiny'``.
        config: the diffusers config of the VAE (``AutoencoderKL`` / ``AutoencoderTiny``
            keyword arguments).
        tiny_input_zero_one: see above.
        frozen: see above.
    """

    KINDS = ('kl', 'tiny')

    def __init__(self, kind: str = 'kl', config: Optional[dict] = None,
                 tiny_input_zero_one: bool = False, frozen: bool = True) -> None:
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f'LatentCodec: kind must be one of {self.KINDS}, got {kind!r}')
        diffusers = require_diffusers('the latent codec')
        cls = diffusers.AutoencoderKL if kind == 'kl' else diffusers.AutoencoderTiny
        self.kind = kind
        self.vae = cls(**dict(config or {}))
        self.tiny_input_zero_one = bool(tiny_input_zero_one)
        self.scaling_factor = float(self.vae.config.scaling_factor)
        if kind == 'kl':
            self.downsample = 2**(len(self.vae.config.block_out_channels) - 1)
        else:
            self.downsample = 2**(len(self.vae.config.encoder_block_out_channels) - 1)
        self.frozen = bool(frozen)
        if self.frozen:
            self.freeze()

    def freeze(self) -> None:
        self.frozen = True
        self.vae.eval()
        for p in self.vae.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> 'LatentCodec':
        super().train(mode)
        if self.frozen:
            self.vae.eval()
        return self

    def encode(self, x: Tensor) -> Tensor:
        """N x 3 x H x W in [-1, 1] -> N x 4 x H/8 x W/8 latents (scaled)."""
        if self.kind == 'kl':
            moments = self.vae.quant_conv(self.vae.encoder(x))
            mean, _ = torch.chunk(moments, 2, dim=1)
            return mean * self.scaling_factor
        if self.tiny_input_zero_one:
            x = (x + 1) / 2
        return self.vae.encode(x).latents * self.scaling_factor

    def decode(self, latent: Tensor) -> Tensor:
        """Scaled latents -> N x 3 x H x W, about [-1, 1]."""
        z = latent / self.scaling_factor
        if self.kind == 'kl':
            return self.vae.decoder(self.vae.post_quant_conv(z))
        return self.vae.decode(z, return_dict=False)[0]


def build_unet(config: dict) -> nn.Module:
    """A stock diffusers ``UNet2DConditionModel`` from its config dict."""
    diffusers = require_diffusers('the latent UNet')
    return diffusers.UNet2DConditionModel(**dict(config))


GRAFT_MODES = ('repeat', 'zero')


def graft_conv_in(state: Dict[str, Tensor], in_channels: int,
                  mode: str = 'repeat') -> Dict[str, Tensor]:
    """SD's 4-channel ``conv_in`` for ``in_channels`` inputs: ``'repeat'``: the weights
    repeated along the input channels and divided by the repeat count (Marigold /
    SDMatte, for inputs that are all latents); ``'zero'``: the weights on the first
    channels, zeros on the others (extra inputs start with no effect)."""
    if mode not in GRAFT_MODES:
        raise ValueError(f'graft_conv_in: mode must be one of {GRAFT_MODES}, got {mode!r}')
    weight = state['conv_in.weight']
    if weight.shape[1] == in_channels:
        return state
    if in_channels % weight.shape[1]:
        raise ValueError(f'cannot graft a {weight.shape[1]}-channel conv_in onto '
                         f'{in_channels} input channels')
    repeat = in_channels // weight.shape[1]
    if mode == 'zero':
        extra = weight.new_zeros(weight.shape[0], in_channels - weight.shape[1],
                                 *weight.shape[2:])
        return {**state, 'conv_in.weight': torch.cat([weight, extra], dim=1)}
    return {**state, 'conv_in.weight': weight.repeat(1, repeat, 1, 1) / repeat}


# -------------------------------------------------------------------- text
class TextEncoder(nn.Module):
    """A frozen CLIP text encoder (transformers ``CLIPTextModel``) with a cache of the
    embeddings of repeated texts, and an optional local tokenizer.

    Args:
        config: ``CLIPTextConfig`` keyword arguments (e.g. SD2's OpenCLIP ViT-H text
            tower), when the weights come from a checkpoint or are random.
        pretrained: a local ``text_encoder`` folder (transformers layout); never a hub id.
        tokenizer: a local ``tokenizer`` folder (``CLIPTokenizer``), needed to encode text.
        max_length: tokens per text (SD: 77, the text-grounded model: 40).
        cache_size: how many text embeddings to keep.
        layer: which hidden states: None (the last layer after the final layer norm,
            what Stable Diffusion uses; SD2's converted text tower already stops at
            OpenCLIP's penultimate layer) or an index into ``hidden_states`` (0: the
            token embeddings, -2: the layer before the last), with the final layer
            norm applied when ``final_norm``.
        final_norm: see ``layer``.
    """

    def __init__(self, config: Optional[dict] = None, pretrained: Optional[str] = None,
                 tokenizer: Optional[str] = None, max_length: int = 77,
                 cache_size: int = 256, layer: Optional[int] = None,
                 final_norm: bool = True) -> None:
        super().__init__()
        require_diffusers('the text encoder')
        from transformers import CLIPTextConfig, CLIPTextModel
        if pretrained is not None:
            folder = osp.expanduser(pretrained)
            if not osp.isdir(folder):
                raise FileNotFoundError(f'text encoder folder not found: {folder}')
            self.model = CLIPTextModel.from_pretrained(folder, local_files_only=True)
        elif config is not None:
            self.model = CLIPTextModel(CLIPTextConfig(**dict(config)))
        else:
            raise ValueError('TextEncoder needs a config or a pretrained folder')
        self.tokenizer = None
        if tokenizer is not None:
            from transformers import CLIPTokenizer
            self.tokenizer = CLIPTokenizer.from_pretrained(osp.expanduser(tokenizer),
                                                           local_files_only=True)
        self.max_length = int(max_length)
        self.cache_size = int(cache_size)
        self.layer = None if layer is None else int(layer)
        self.final_norm = bool(final_norm)
        self._cache: Dict[str, Tensor] = {}
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        # embeddings cached before a checkpoint is loaded are stale
        self.register_load_state_dict_post_hook(lambda module, keys: module._cache.clear())

    def train(self, mode: bool = True) -> 'TextEncoder':
        super().train(mode)
        self.model.eval()
        return self

    @torch.no_grad()
    def encode_ids(self, ids: Tensor) -> Tensor:
        """N x L token ids -> N x L x C hidden states of the configured ``layer``."""
        ids = ids.to(self.model.device)
        if self.layer is None:
            return self.model(ids)[0]
        hidden = self.model(ids, output_hidden_states=True).hidden_states[self.layer]
        norm = getattr(self.model, 'text_model', self.model).final_layer_norm  # transformers 4 / 5
        return norm(hidden) if self.final_norm else hidden

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> Tensor:
        """Embeddings of ``texts`` (N x max_length x C), repeated texts from the cache."""
        if self.tokenizer is None:
            raise ValueError('encoding text needs a tokenizer: give the local tokenizer '
                             'folder (e.g. stable-diffusion-2/tokenizer)')
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            ids = self.tokenizer(list(missing), padding='max_length', max_length=self.max_length,
                                 truncation=True, return_tensors='pt').input_ids
            for text, emb in zip(missing, self.encode_ids(ids)):
                if len(self._cache) >= self.cache_size:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[text] = emb
        return torch.stack([self._cache[t] for t in texts])


#: SD2's tokenisation of the empty caption: <start>, <end>, then "!" (id 0) as padding.
SD2_EMPTY_CAPTION_IDS = [49406, 49407] + [0] * 75


# -------------------------------------------------------------------- attention
def level_size(latent_hw: Tuple[int, int], tokens: int) -> Tuple[int, int]:
    """(h, w) of the UNet level with ``tokens`` positions, for a latent of
    ``latent_hw``: each level halves the sides, rounding up (stride-2 convolutions)."""
    h, w = latent_hw
    for _ in range(16):
        if h * w == tokens:
            return h, w
        h, w = (h + 1) // 2, (w + 1) // 2
    raise ValueError(f'no UNet level of a {latent_hw} latent has {tokens} positions')


def key_bias(key_mask: Tensor, tokens: int, dtype: torch.dtype) -> Tensor:
    """Additive key bias of one attention level: the prompt mask (N x 1 x h0 x w0 in
    [0, 1], at the latent size) nearest-resized to the level, ``(1 - m) * -10000``
    (SDMatte's masked self-attention), as N x 1 x 1 x tokens."""
    h, w = level_size(tuple(key_mask.shape[-2:]), tokens)
    m = key_mask if (h, w) == tuple(key_mask.shape[-2:]) else F.interpolate(
        key_mask, size=(h, w), mode='nearest')
    return ((1 - m.to(dtype)) * -10000.0).flatten(1)[:, None, None, :]


class PromptAttnProcessor:
    """An attention processor on ``scaled_dot_product_attention`` that can

    - bias the keys of a **self**-attention with the prompt mask of the batch
      (``key_mask``: 0 added inside the prompt region, -10000 outside, at every level's
      own size: any aspect ratio, and SDPA never materialises the score matrix), and
    - make a **cross**-attention attend to the prompt tokens of the batch
      (``prompt_tokens``) instead of the text embedding.

    The batch's prompt comes through the UNet's ``cross_attention_kwargs`` as
    ``prompt=dict(key_mask=..., prompt_tokens=...)``; a processor without a use for it
    is the plain SDPA attention.

    Args:
        mask_keys: apply the key mask (self-attention processors).
        use_prompt_tokens: attend to the prompt tokens (cross-attention processors).
    """

    def __init__(self, mask_keys: bool = False, use_prompt_tokens: bool = False) -> None:
        self.mask_keys = mask_keys
        self.use_prompt_tokens = use_prompt_tokens

    def __call__(self, attn, hidden_states: Tensor, encoder_hidden_states: Optional[Tensor] = None,
                 attention_mask: Optional[Tensor] = None, temb: Optional[Tensor] = None,
                 prompt: Optional[dict] = None) -> Tensor:
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            n, c, h, w = hidden_states.shape
            hidden_states = hidden_states.view(n, c, h * w).transpose(1, 2)
        if prompt is not None and self.use_prompt_tokens and prompt.get('prompt_tokens') is not None:
            encoder_hidden_states = prompt['prompt_tokens'].to(hidden_states.dtype)
        batch, tokens, _ = hidden_states.shape
        bias = None
        if attention_mask is not None:
            source = tokens if encoder_hidden_states is None else encoder_hidden_states.shape[1]
            bias = attn.prepare_attention_mask(attention_mask, source, batch)
            bias = bias.view(batch, attn.heads, -1, bias.shape[-1])
        if prompt is not None and self.mask_keys and prompt.get('key_mask') is not None:
            extra = key_bias(prompt['key_mask'], tokens, hidden_states.dtype)
            bias = extra if bias is None else bias + extra
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if encoder_hidden_states is None:
            encoder_hidden_states = hidden_states
        elif attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
        key = attn.to_k(encoder_hidden_states)
        value = attn.to_v(encoder_hidden_states)
        head_dim = key.shape[-1] // attn.heads
        query = query.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        key = key.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=bias, dropout_p=0.0,
                                             is_causal=False, scale=attn.scale)
        out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if input_ndim == 4:
            out = out.transpose(-1, -2).reshape(n, c, h, w)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


UNET_PARTS = ('down', 'mid', 'up')


def attention_part(name: str) -> str:
    """``'down'``, ``'mid'`` or ``'up'``: where an attention processor sits in the UNet."""
    return 'mid' if name.startswith('mid_block') else name.split('_', 1)[0]


def install_prompt_processors(unet: nn.Module, masked_self_attention: Iterable[str],
                              prompt_cross_attention: Iterable[str]) -> Dict[str, str]:
    """Give every attention of ``unet`` a :class:`PromptAttnProcessor`.

    Args:
        masked_self_attention: UNet parts (``'down'``, ``'mid'``, ``'up'``) whose
            self-attentions (``attn1``) get the prompt key mask.
        prompt_cross_attention: parts whose cross-attentions (``attn2``) attend to the
            prompt tokens instead of the text embedding.

    Returns:
        ``{processor name: role}`` (``'masked self'``, ``'self'``, ``'prompt cross'``,
        ``'text cross'``), for tests and logs.
    """
    masked, prompt_parts = set(masked_self_attention), set(prompt_cross_attention)
    for parts in (masked, prompt_parts):
        bad = parts - set(UNET_PARTS)
        if bad:
            raise ValueError(f'UNet parts must be among {UNET_PARTS}, got {sorted(bad)}')
    processors, roles = {}, {}
    for name in unet.attn_processors:
        part = attention_part(name)
        is_self = '.attn1.' in name
        mask_keys = is_self and part in masked
        use_tokens = not is_self and part in prompt_parts
        processors[name] = PromptAttnProcessor(mask_keys=mask_keys, use_prompt_tokens=use_tokens)
        roles[name] = ('masked self' if mask_keys else 'self') if is_self else (
            'prompt cross' if use_tokens else 'text cross')
    unet.set_attn_processor(processors)
    return roles


def masked_attention_reference(query: Tensor, key: Tensor, value: Tensor, bias: Tensor,
                               scale: Optional[float] = None) -> Tensor:
    """The original SDMatte attention, materialised: ``softmax(baddbmm(bias, q, k^T))
    @ v`` on (N * heads) x L x d tensors with an (N * heads) x 1 x L bias. For tests and
    benchmarks only: it holds the whole L x L score matrix."""
    scale = query.shape[-1]**-0.5 if scale is None else scale
    scores = torch.baddbmm(bias, query, key.transpose(-1, -2), beta=1, alpha=scale)
    return scores.softmax(dim=-1) @ value


def point_coordinate_layout(count: int, embed_dim: int) -> Tuple[int, int]:
    """``(padded count, channels per coordinate)`` of SDMatte's point embedding: the
    ``count`` coordinates are zero-padded to the smallest ``i >= count`` dividing
    ``embed_dim`` (20 coordinates and 1680: no padding, 84 channels each)."""
    for i in range(count, embed_dim + 1):
        if embed_dim % i == 0:
            return i, embed_dim // i
    raise ValueError(f'no layout for {count} coordinates in {embed_dim} channels')


def output_hooks(modules: Sequence[nn.Module]) -> Tuple[List[Tensor], list]:
    """Record the outputs of ``modules`` (the first tensor of a tuple output) in call
    order. Returns (the list they go to, the hooks: remove them when done)."""
    features: List[Tensor] = []

    def keep(module, args, output):
        features.append(output[0] if isinstance(output, tuple) else output)

    return features, [m.register_forward_hook(keep) for m in modules]


def feature_hooks(unet: nn.Module) -> Tuple[List[Tensor], list]:
    """Record the outputs of the last down block, the mid block and the last up block
    (LiteSDMatte's distillation features). Returns (the list they go to, the hooks)."""
    modules = [unet.down_blocks[-1]] + ([unet.mid_block] if unet.mid_block is not None
                                         else []) + [unet.up_blocks[-1]]
    return output_hooks(modules)


def up_block_hooks(unet: nn.Module, indices: Sequence[int]) -> Tuple[List[Tensor], list]:
    """Record the outputs of the UNet's decoder (up) blocks ``indices`` (coarse to fine,
    negative indices count from the last block): the features of the text-grounded
    model's decoder."""
    count = len(unet.up_blocks)
    bad = [i for i in indices if not -count <= i < count]
    if bad:
        raise ValueError(f'up_block_hooks: the UNet has {count} up blocks, no {bad}')
    order = sorted({i % count for i in indices})
    return output_hooks([unet.up_blocks[i] for i in order])
