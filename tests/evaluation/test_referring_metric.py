"""The RefMatte protocol: ReferringMattingMetric, referring_errors, transition_trimap."""
import numpy as np
import pytest

from mattebox.evaluation import (ReferringMattingMetric, referring_errors,
                                 transition_trimap)
from mattebox.structures import MattingDataSample

GT = np.zeros((10, 10), np.uint8)
GT[3:7, 3:7] = 255  # 16 opaque pixels, hard edge


def test_transition_trimap_from_alpha():
    tri = transition_trimap(GT, 3)  # 3 x 3 elliptical kernel = a cross
    assert int((tri == 255).sum()) == 4  # the eroded core
    assert int((tri == 128).sum()) == 28  # 4 x 4 square dilated by the cross (32) - core
    assert tri[0, 0] == 0 and tri[2, 2] == 0  # corners of the dilation stay background
    soft = GT.copy()
    soft[0, 9] = 100  # a partly transparent pixel is always in the transition region
    assert transition_trimap(soft, 1)[0, 9] == 128
    with pytest.raises(ValueError, match='transition_kernel must be a positive int'):
        transition_trimap(GT, 0)


def test_referring_errors_known_values():
    zeros = np.zeros_like(GT)
    e = referring_errors(zeros, GT, transition_kernel=3)
    assert e['SAD'] == pytest.approx(16 / 1000)
    assert e['MSE'] == pytest.approx(16 / 100)
    assert e['MAD'] == pytest.approx(16 / 100)
    assert e['SAD-T'] == pytest.approx(12 / 1000)  # 12 of the 16 pixels are transition
    assert e['MSE-T'] == pytest.approx(12 / 28)
    assert e['GRAD'] > 0 and e['CONN'] > 0
    perfect = referring_errors(GT, GT, metrics=('SAD', 'GRAD', 'CONN', 'SAD-T'))
    assert perfect == {'SAD': 0.0, 'GRAD': 0.0, 'CONN': 0.0, 'SAD-T': 0.0}
    scaled = referring_errors(zeros, GT, metrics=('MSE', 'MAD'), mse_scale=1e3, mad_scale=1e3)
    assert scaled['MSE'] == pytest.approx(160.0) and scaled['MAD'] == pytest.approx(160.0)
    with pytest.raises(ValueError, match=r"unknown metric\(s\) \['IOU'\]"):
        referring_errors(GT, GT, metrics=('IOU',))


def _sample(pred, inst, k, distractor=False, as_data_sample=False):
    s = dict(pred_alpha=pred, ori_alpha=GT, instance_id=inst, expression_index=k,
             distractor=distractor)
    if as_data_sample:
        ds = MattingDataSample(pred_alpha=pred, ori_alpha=GT)
        ds.set_metainfo(dict(instance_id=inst, expression_index=k))
        return ds
    return s


def test_metric_averages_over_expressions_then_instances():
    full = np.full_like(GT, 255)
    zeros = np.zeros_like(GT)
    metric = ReferringMattingMetric(metrics=('SAD', 'MSE'), transition_kernel=3)
    # instance a: 4 expressions, SAD 0, 0.016, 0, 0.084; instance b: 2 expressions, 0 / 0.016
    metric.process(None, [_sample(GT, 'a', 0), _sample(zeros, 'a', 1),
                          _sample(GT, 'a', 2, as_data_sample=True), _sample(full, 'a', 3)])
    metric.process(None, [_sample(GT, 'b', 0), _sample(zeros, 'b', 1)])
    out = metric.compute_metrics(metric.results)
    a, b = (0 + 0.016 + 0 + 0.084) / 4, (0 + 0.016) / 2
    assert out['SAD'] == pytest.approx((a + b) / 2)
    assert out['MSE'] == pytest.approx(((0.16 + 0.84) / 4 + 0.16 / 2) / 2)
    assert out['SAD_e0'] == 0.0 and out['SAD_e1'] == pytest.approx(0.016)
    assert out['SAD_e3'] == pytest.approx(0.084) and out['SAD_e2'] == 0.0
    assert out['num_instances'] == 2 and out['num_samples'] == 6
    assert 'SAD_distractor' not in out
    per_sample = ReferringMattingMetric(metrics=('SAD',), average='sample')
    per_sample.results = list(metric.results)
    assert per_sample.compute_metrics(per_sample.results)['SAD'] == \
        pytest.approx((0.016 + 0.084 + 0.016) / 6)


def test_metric_reports_distractors_apart():
    metric = ReferringMattingMetric(metrics=('SAD',), per_expression=False)
    metric.process(None, [_sample(GT, 'a', 0), _sample(np.zeros_like(GT), 'a', 0, True)])
    out = metric.compute_metrics(metric.results)
    assert out['SAD'] == 0.0 and out['SAD_distractor'] == pytest.approx(0.016)
    assert out['num_distractor'] == 1 and out['num_samples'] == 1
    assert 'SAD_e0' not in out


def test_metric_trimap_from_sample_and_errors():
    trimap = np.full_like(GT, 128)
    metric = ReferringMattingMetric(metrics=('SAD-T',), trimap_source='sample')
    metric.process(None, [dict(pred_alpha=np.zeros_like(GT), ori_alpha=GT,
                               ori_trimap=trimap, instance_id='a', expression_index=0)])
    assert metric.compute_metrics(metric.results)['SAD-T'] == pytest.approx(0.016)
    with pytest.raises(KeyError, match=r"data sample 0 has no \['ori_trimap'\]"):
        metric.process(None, [dict(pred_alpha=GT, ori_alpha=GT)])
    with pytest.raises(ValueError, match='metrics must be a non-empty subset'):
        ReferringMattingMetric(metrics=('SAD', 'IoU'))
    with pytest.raises(ValueError, match="average must be 'instance' or 'sample'"):
        ReferringMattingMetric(average='image')
    bad = ReferringMattingMetric(metrics=('SAD',))
    with pytest.raises(ValueError, match=r'data sample 0 \(x.jpg\): sad: pred and gt must '
                                         r'have the same shape'):
        bad.process(None, [dict(pred_alpha=np.zeros((4, 4), np.uint8), ori_alpha=GT,
                                merged_path='x.jpg')])
