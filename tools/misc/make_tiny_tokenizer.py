"""Write a tiny CLIP tokenizer folder (``vocab.json`` + ``merges.txt``, CLIP's BPE
format) for the tiny text-grounded configs: whole-word tokens for the words of the
synthetic referring expressions and common referring words, single characters for
everything else (no word becomes ``<|endoftext|>``-unknown). Stable Diffusion's own
tokenizer (49,408 tokens) is a download; this one is generated, a few hundred tokens,
and committed as ``configs/tdm/tiny_tokenizer/``.

    python tools/misc/make_tiny_tokenizer.py configs/tdm/tiny_tokenizer
"""
import argparse
import json
import os
import os.path as osp
import string

#: words that get their own token (the synthetic generator's, and common ones)
WORDS = sorted(set('''
the a an of on in at to with and or is its this that
object thing shape one
left right middle center centre top bottom front back above below behind near far
next beside between upper lower corner side
red yellow green blue purple orange pink brown black white gray grey
big small large little tiny huge medium sized medium-sized
bigger smaller larger largest smallest biggest
person man woman boy girl child people dog cat bird horse animal glass vase cup bottle
hair fur plant leaf tree flower net lace veil smoke water
transparent
'''.split()) - {'medium-sized'})
SPECIAL = ('<|startoftext|>', '<|endoftext|>')
CHARACTERS = string.ascii_lowercase + string.digits + ".,-'!?/&"


def build(words=WORDS):
    """(vocab: token -> id, merges: list of 'a b' lines) of the tiny BPE: trained (the
    ``tokenizers`` library, installed with transformers) on the word list, every
    character of ``CHARACTERS`` in the alphabet, until each listed word is one token."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    tokenizer = Tokenizer(models.BPE(end_of_word_suffix='</w>'))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=4096, min_frequency=1, show_progress=False,
                                  initial_alphabet=list(CHARACTERS),
                                  end_of_word_suffix='</w>', special_tokens=[])
    tokenizer.train_from_iterator(list(words), trainer=trainer)
    state = json.loads(tokenizer.to_str())['model']
    merges = [m if isinstance(m, str) else ' '.join(m) for m in state['merges']]
    tokens = []
    for c in CHARACTERS:  # every character alone and at a word's end
        tokens += [c, c + '</w>']
    tokens += sorted(state['vocab'], key=state['vocab'].get) + list(SPECIAL)
    vocab = {}
    for t in tokens:
        vocab.setdefault(t, len(vocab))
    return vocab, merges


def write(folder: str) -> int:
    """Write the folder; return the vocabulary size."""
    vocab, merges = build()
    os.makedirs(folder, exist_ok=True)
    with open(osp.join(folder, 'vocab.json'), 'w') as f:
        json.dump(vocab, f, indent=0)
    with open(osp.join(folder, 'merges.txt'), 'w') as f:
        f.write('#version: 0.2\n' + '\n'.join(merges) + '\n')
    with open(osp.join(folder, 'tokenizer_config.json'), 'w') as f:
        json.dump(dict(tokenizer_class='CLIPTokenizer', model_max_length=77,
                       bos_token=SPECIAL[0], eos_token=SPECIAL[1], unk_token=SPECIAL[1],
                       pad_token=SPECIAL[1]), f, indent=2)
    return len(vocab)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out', help='output folder (e.g. configs/tdm/tiny_tokenizer)')
    args = parser.parse_args()
    print(f'{args.out}: {write(args.out)} tokens')


if __name__ == '__main__':
    main()
