"""MultiSourceDataset + SourceScheduleBatchSampler: TDM's iteration schedule."""
import pytest
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mattebox.datasets import MultiSourceDataset, SourceScheduleBatchSampler
from mattebox.datasets import multi_source
from mattebox.datasets.multi_source import expand_schedule
from mattebox.datasets.synthetic_referring import make_referring_dataset
from mattebox.utils import register_all_modules

TDM = ['refmatte', 'refcoco', 'refmatte', 'refcoco', ['p3m', 'am2k', 'rm1k']]
# 1-based iterations: RefMatte odd, RefCOCO even, one captioned source after every 4
EXPECTED_20 = ['refmatte', 'refcoco', 'refmatte', 'refcoco', 'p3m',
               'refmatte', 'refcoco', 'refmatte', 'refcoco', 'am2k',
               'refmatte', 'refcoco', 'refmatte', 'refcoco', 'rm1k',
               'refmatte', 'refcoco', 'refmatte', 'refcoco', 'p3m']


class Numbers(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


class FakeSampler:
    def __init__(self, dataset, seed=0, epoch=0):
        self.dataset, self.seed, self.epoch = dataset, seed, epoch


SIZES = dict(refmatte=11, refcoco=13, p3m=3, am2k=4, rm1k=5)


def _dataset():
    return MultiSourceDataset({n: Numbers(s) for n, s in SIZES.items()})


def test_expand_schedule():
    assert expand_schedule(TDM)[:15] == EXPECTED_20[:15]
    assert len(expand_schedule(TDM)) == 15
    assert expand_schedule(['a', ['x', 'y'], ['u', 'v', 'w']]) == [
        'a', 'x', 'u', 'a', 'y', 'v', 'a', 'x', 'w', 'a', 'y', 'u', 'a', 'x', 'v', 'a', 'y', 'w']
    with pytest.raises(ValueError, match='slot 1: expected a source name'):
        expand_schedule(['a', []])


def test_batches_follow_schedule_over_20_iterations():
    ds = _dataset()
    bs = SourceScheduleBatchSampler(FakeSampler(ds), batch_size=2, schedule=TDM,
                                    iters_per_epoch=20)
    batches = list(bs)
    assert len(batches) == 20
    got = []
    for batch in batches:
        sources = {ds.locate(i)[0] for i in batch}
        assert len(sources) == 1 and len(batch) == 2  # single-source batches
        got.append(sources.pop())
    assert got == EXPECTED_20
    # every source is read without repetition within a pass
    refmatte = [i for b, s in zip(batches, got) if s == 'refmatte' for i in b]
    start, stop = ds.source_range('refmatte')
    assert sorted(refmatte[:11]) == list(range(start, stop))


def test_deterministic_resumable_and_epoch_dependent():
    ds = _dataset()
    a = list(SourceScheduleBatchSampler(FakeSampler(ds, seed=3), 2, TDM, iters_per_epoch=20))
    b = SourceScheduleBatchSampler(FakeSampler(ds, seed=3), 2, TDM, iters_per_epoch=20)
    assert a == list(b)
    assert [b.batch_at(i) for i in range(13, 20)] == a[13:]  # resume at iteration 13
    c = list(SourceScheduleBatchSampler(FakeSampler(ds, seed=4), 2, TDM, iters_per_epoch=20))
    assert a != c
    d = list(SourceScheduleBatchSampler(FakeSampler(ds, seed=3, epoch=1), 2, TDM,
                                        iters_per_epoch=20))
    assert a != d
    b.set_epoch(1)
    assert list(b) == d


def test_ddp_ranks_get_disjoint_shards(monkeypatch):
    ds = _dataset()
    per_rank = []
    for rank in range(2):
        monkeypatch.setattr(multi_source, 'get_dist_info', lambda r=rank: (r, 2))
        bs = SourceScheduleBatchSampler(FakeSampler(ds, seed=1), 3, TDM, iters_per_epoch=15)
        per_rank.append(list(bs))
    for it in range(15):
        s0 = {ds.locate(i)[0] for i in per_rank[0][it]}
        s1 = {ds.locate(i)[0] for i in per_rank[1][it]}
        assert s0 == s1 and len(s0) == 1  # all ranks on the same source
    # refcoco (13 samples): first pass of each rank = ceil(13 / 2) = 7 samples, together
    # covering all 13 (one padded repeat)
    refcoco = [[i for it in range(15) if EXPECTED_20[it] == 'refcoco'
                for i in per_rank[r][it]][:7] for r in range(2)]
    start, stop = ds.source_range('refcoco')
    assert set(refcoco[0]) | set(refcoco[1]) == set(range(start, stop))
    assert len(set(refcoco[0]) & set(refcoco[1])) <= 1


def test_default_epoch_length_and_errors():
    ds = _dataset()
    bs = SourceScheduleBatchSampler(FakeSampler(ds), 2, TDM)
    # one pass over refmatte (11 -> 6 batches), 2 refmatte iterations per 5: 3 x 5 = 15
    assert len(bs) == 15
    with pytest.raises(ValueError, match=r"schedule names source\(s\) \['coco'\]"):
        SourceScheduleBatchSampler(FakeSampler(ds), 2, ['refmatte', 'coco'])
    with pytest.raises(TypeError, match='needs a MultiSourceDataset'):
        SourceScheduleBatchSampler(FakeSampler(Numbers(3)), 2, ['a'])
    with pytest.raises(ValueError, match='batch_size must be a positive int'):
        SourceScheduleBatchSampler(FakeSampler(ds), 0, TDM)
    with pytest.raises(KeyError, match="no source 'x'"):
        ds.source_range('x')
    assert ds.locate(11) == ('refcoco', 0) and len(ds) == 36


def test_config_dataloader_follows_schedule(tmp_path):
    """The real loaders through Runner.build_dataloader: the `source` in each batch's
    metainfo follows the schedule for 20 iterations."""
    register_all_modules()
    root = make_referring_dataset(tmp_path / 'ref', num_train=4, num_test=0, size=32)
    pipeline = [dict(type='LoadImageFromFile', key='merged'),
                dict(type='LoadReferringAlpha'),
                dict(type='PackMattingInputs')]
    sources = {name: dict(type='RefMatteDataset', data_root=str(root),
                          ann_file='json/refmatte_train_label.json', source=name,
                          pipeline=pipeline)
               for name in SIZES}
    loader = Runner.build_dataloader(dict(
        batch_size=2, num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=True),
        batch_sampler=dict(type='SourceScheduleBatchSampler', schedule=TDM,
                           iters_per_epoch=20),
        dataset=dict(type='MultiSourceDataset', sources=sources)), seed=0)
    got = []
    for batch in loader:
        names = {s.metainfo['source'] for s in batch['data_samples']}
        assert len(names) == 1 and len(batch['data_samples']) == 2
        got.append(names.pop())
    assert got == EXPECTED_20


def test_synthetic_mix_config_binarises_the_refcoco_stand_in(tmp_path):
    from mmengine.config import Config
    register_all_modules()
    root = make_referring_dataset(tmp_path / 'ref', num_train=3, num_test=0, size=32)
    cfg = Config.fromfile('configs/_base_/datasets/synthetic_referring_mix.py')
    loader_cfg = cfg.train_dataloader.to_dict()
    loader_cfg['batch_sampler']['iters_per_epoch'] = 10
    for src in loader_cfg['dataset']['sources'].values():
        src['data_root'] = str(root)
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    seen = []
    for batch in loader:
        for s in batch['data_samples']:
            name = s.metainfo['source']
            binary = set(s.gt_alpha.unique().tolist()) <= {0, 255}
            assert s.metainfo.get('binary_gt', False) == (name == 'refcoco')
            assert binary or name != 'refcoco'
            assert tuple(s.gt_alpha.shape) == (1, 64, 64) and isinstance(s.text, str)
        seen.append(name)
    assert seen == ['refmatte', 'refcoco', 'refmatte', 'refcoco', 'captioned'] * 2
