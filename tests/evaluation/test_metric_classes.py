"""mattebox.evaluation.metrics: mmengine metrics over the functional implementations."""
import json
import math
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from mmengine.evaluator import Evaluator

from mattebox.evaluation import (MAD, MSE, SAD, ConnectivityError, GradientError,
                                 functional as F)
from mattebox.registry import METRICS
from mattebox.structures import MattingDataSample

try:  # tests/evaluation as a package or as a plain folder on sys.path
    from .metric_test_utils import random_case
except ImportError:
    from metric_test_utils import random_case

KEYS = {'SAD': F.sad, 'MSE': F.mse, 'MAD': F.mad, 'GRAD': F.gradient_error,
        'CONN': F.connectivity_error}
CLASSES = {'SAD': SAD, 'MSE': MSE, 'MAD': MAD, 'GRAD': GradientError,
           'CONN': ConnectivityError}


def _samples(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    triples = []
    while len(triples) < n:
        pred, gt, trimap = random_case(rng, 'smooth')
        if (trimap == 128).any():
            triples.append((pred, gt, trimap))
    return triples


def _data_sample(pred, gt, trimap, as_tensor=True):
    conv = torch.from_numpy if as_tensor else np.asarray
    return MattingDataSample(pred_alpha=torch.from_numpy(pred), ori_alpha=conv(gt),
                             ori_trimap=conv(trimap))


def _expected_means(triples, **options):
    return {key: float(np.mean([f(p, g, t, **options) for p, g, t in triples]))
            for key, f in KEYS.items()}


def test_registered_under_stable_names():
    for name in ('SAD', 'MSE', 'MAD', 'GradientError', 'ConnectivityError'):
        assert METRICS.get(name) is not None, name
    assert METRICS.build(dict(type='ConnectivityError', step=0.1)).step == 0.1


def test_evaluator_reports_mean_of_per_image_values():
    triples = _samples(5)
    evaluator = Evaluator([dict(type='mattebox.SAD'), dict(type='mattebox.MSE'),
                           dict(type='mattebox.MAD'), dict(type='mattebox.GradientError'),
                           dict(type='mattebox.ConnectivityError')])
    # two batches; tensors and NumPy arrays mixed, as datasets may give either
    samples = [_data_sample(*t, as_tensor=i % 2 == 0) for i, t in enumerate(triples)]
    evaluator.process(samples[:3])
    evaluator.process(samples[3:])
    results = evaluator.evaluate(len(samples))
    expected = _expected_means(triples)
    assert set(results) == set(expected)
    for key, value in expected.items():
        assert results[key] == pytest.approx(value, rel=1e-12), key


def test_options_are_passed_through():
    triples = _samples(3, seed=1)
    metrics = [SAD(region='all'), MSE(scale=1e3), MAD(region='all', scale=1e3),
               GradientError(sigma=2.0, norm_const=1), ConnectivityError(convention='mmagic'),
               SAD(prefix='val')]
    evaluator = Evaluator(metrics)
    evaluator.process([dict(pred_alpha=torch.from_numpy(p), ori_alpha=g, ori_trimap=t)
                       for p, g, t in triples])
    results = evaluator.evaluate(len(triples))

    def mean(f, **kw):
        return float(np.mean([f(p, g, t, **kw) for p, g, t in triples]))

    assert results['SAD'] == pytest.approx(mean(F.sad, region='all'))
    assert results['MSE'] == pytest.approx(mean(F.mse, scale=1e3))
    assert results['MAD'] == pytest.approx(mean(F.mad, region='all', scale=1e3))
    assert results['GRAD'] == pytest.approx(mean(F.gradient_error, sigma=2.0, norm_const=1))
    assert results['CONN'] == pytest.approx(mean(F.connectivity_error, convention='mmagic'))
    assert results['val/SAD'] == pytest.approx(mean(F.sad))


def test_region_all_needs_no_trimap():
    pred, gt, _ = _samples(1)[0]
    metric = MSE(region='all')
    metric.process(None, [dict(pred_alpha=torch.from_numpy(pred), ori_alpha=gt)])
    assert metric.evaluate(1) == {'MSE': pytest.approx(F.mse(pred, gt, None, region='all'))}


@pytest.mark.parametrize('missing', ['pred_alpha', 'ori_alpha', 'ori_trimap'])
def test_missing_key_raises_key_error_naming_it(missing):
    pred, gt, trimap = _samples(1)[0]
    sample = dict(pred_alpha=torch.from_numpy(pred), ori_alpha=gt, ori_trimap=trimap)
    del sample[missing]
    with pytest.raises(KeyError, match=rf"ConnectivityError: data sample 0 has no "
                                        rf"'{missing}'"):
        ConnectivityError().process(None, [sample])


def test_bad_inputs_name_metric_and_sample():
    pred = np.zeros((4, 6), np.uint8)
    trimap = np.full((4, 6), 128, np.uint8)
    sample = dict(pred_alpha=torch.from_numpy(pred), ori_alpha=np.zeros((6, 4), np.uint8),
                  ori_trimap=trimap)
    with pytest.raises(ValueError, match=r'SAD: data sample 0: .*same shape'):
        SAD().process(None, [sample])
    with pytest.raises(ValueError, match=r"GradientError: region must be one of"):
        GradientError(region='band')
    with pytest.raises(ValueError, match=r'1 / step to be an integer'):
        ConnectivityError(step=0.25 + 1e-3)


def test_nan_mse_propagates_to_the_mean_like_evaluate_m():
    pred, gt, trimap = _samples(1)[0]
    metric = MSE()
    metric.process(None, [dict(pred_alpha=torch.from_numpy(pred), ori_alpha=gt,
                               ori_trimap=trimap),
                          dict(pred_alpha=torch.from_numpy(pred), ori_alpha=gt,
                               ori_trimap=np.zeros_like(trimap))])
    assert math.isnan(metric.evaluate(2)['MSE'])


def test_padded_results_count_each_image_once():
    """The dataloader pads the last batch; mmengine truncates the results to ``size``."""
    triples = _samples(3, seed=2)
    padded = triples + triples[:1]  # the sampler repeats sample 0 to fill a batch
    for key, cls in CLASSES.items():
        metric = cls()
        metric.process(None, [dict(pred_alpha=torch.from_numpy(p), ori_alpha=g,
                                   ori_trimap=t) for p, g, t in padded])
        assert len(metric.results) == 4
        value = metric.evaluate(size=3)[key]
        expected = np.mean([KEYS[key](p, g, t) for p, g, t in triples])
        assert value == pytest.approx(expected, rel=1e-12), key
        assert metric.results == []


# ----------------------------------------------------------------------------- 2 ranks
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _dist_worker(rank: int, world_size: int, port: int, collect_dir: str, out: str) -> None:
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    try:
        triples = _samples(5, seed=3)
        # DefaultSampler(shuffle=False, round_up=True): rank r takes indices r, r + 2, ...
        # over [0..4] + [0] (padded to 6)
        indices = [0, 1, 2, 3, 4, 0][rank::world_size]
        metrics = [cls(collect_dir=collect_dir) for cls in CLASSES.values()]
        evaluator = Evaluator(metrics)
        evaluator.process([_data_sample(*triples[i]) for i in indices])
        results = evaluator.evaluate(size=5)
        if rank == 0:
            with open(out, 'w') as f:
                json.dump(results, f)
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_gather_each_image_once(tmp_path):
    out = tmp_path / 'results.json'
    mp.spawn(_dist_worker, args=(2, _free_port(), str(tmp_path / 'collect'), str(out)),
             nprocs=2, join=True)
    results = json.loads(out.read_text())
    expected = _expected_means(_samples(5, seed=3))
    assert set(results) == set(expected)
    for key, value in expected.items():
        assert results[key] == pytest.approx(value, rel=1e-12), key
