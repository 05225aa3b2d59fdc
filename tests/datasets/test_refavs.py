"""RefAVSDataset on the real metadata.csv with a generated media tree."""
import os
import os.path as osp
from collections import Counter

import numpy as np
import pytest
import torch
from conftest import SAMPLED_CLIPS, object_mask, real_metadata_rows

from sam2love.datasets import RefAVSDataError, RefAVSDataset

PUBLISHED_ROWS = dict(train=14113, val=1349, test_s=2288, test_u=1656,
                      test_n=1028)
PUBLISHED_NULL = dict(train=608, val=72, test_s=0, test_u=0, test_n=1028)

TEST_PIPELINE = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipAudio', sample_rate=16000),
    dict(type='LoadClipMasks', eval_size=(256, 256)),
    dict(type='ResizeClip', scale=(64, 64), mask_scale=(32, 32)),
    dict(type='PackClipInputs'),
]


def make_dataset(root, split, pipeline=TEST_PIPELINE, **kwargs):
    return RefAVSDataset(data_root=root, split=split, pipeline=pipeline,
                         **kwargs)


def indices_of(dataset, clip_name):
    return [i for i in range(len(dataset))
            if dataset.get_data_info(i)['clip_name'] == clip_name]


@pytest.mark.parametrize('split', list(PUBLISHED_ROWS))
def test_real_metadata_counts(refavs_tree, split):
    dataset = make_dataset(refavs_tree, split, pipeline=[])
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert len(dataset) == PUBLISHED_ROWS[split]
    assert sum(i['is_null'] for i in infos) == PUBLISHED_NULL[split]
    assert {i['split'] for i in infos} == {split}


def test_todo_rows_ignored_and_duplicates_kept(refavs_tree):
    rows = real_metadata_rows()
    assert len(rows) == 20459
    dataset = make_dataset(refavs_tree, list(PUBLISHED_ROWS), pipeline=[])
    assert len(dataset) == 20459 - 25
    uids = Counter(dataset.get_data_info(i)['uid']
                   for i in range(len(dataset)))
    assert sum(n == 2 for n in uids.values()) == 11
    # csv order is kept (the benchmark's metric batches depend on it)
    lines = [dataset.get_data_info(i)['metadata_line']
             for i in range(len(dataset))]
    assert lines == sorted(lines)


def test_null_rows_use_uid_folder_not_vid(refavs_tree):
    dataset = make_dataset(refavs_tree, 'test_n', pipeline=[])
    [index] = [i for i in range(len(dataset))
               if dataset.get_data_info(i)['uid']
               == 'null_c-MDyjY3uiWp0_297000_307000_null_1']
    info = dataset.get_data_info(index)
    assert info['vid'] == 'MDyjY3uiWp0_297000_307000'
    assert info['clip_name'] == 'null_c-MDyjY3uiWp0_297000_307000'
    assert info['is_null']
    assert osp.join('media', 'null_c-MDyjY3uiWp0_297000_307000', 'frames',
                    '0.jpg') in info['frame_paths'][0]
    # The test_s clip of the same vid has non-empty masks for fid 0; the
    # null row must not pick them up.
    sample = make_dataset(refavs_tree, 'test_n')[index]
    assert sample['data_samples'].gt_sem_seg.data.sum() == 0
    assert not sample['data_samples'].gt_eval_masks.data.any()


def test_sampled_clips_load_in_every_split(refavs_tree):
    seen = Counter()
    for split in PUBLISHED_ROWS:
        dataset = make_dataset(refavs_tree, split)
        for name in SAMPLED_CLIPS:
            for index in indices_of(dataset, name):
                sample = dataset[index]
                frames = sample['inputs']['frames']
                audio = sample['inputs']['audio']
                ds = sample['data_samples']
                assert frames.shape == (10, 3, 64, 64)
                assert frames.dtype == torch.uint8
                assert audio.shape == (160000, )
                assert audio.dtype == torch.float32
                assert ds.gt_sem_seg.data.shape == (10, 32, 32)
                assert ds.gt_eval_masks.data.shape == (10, 256, 256)
                assert ds.text == dataset.get_data_info(index)['text']
                w, h = SAMPLED_CLIPS[name][0]
                assert ds.ori_shape == (h, w)
                null = name.startswith('null')
                assert bool(ds.gt_sem_seg.data.any()) == (not null)
                seen[split] += 1
    assert set(seen) == set(PUBLISHED_ROWS)


def test_duplicated_uid_rows_are_two_samples(refavs_tree):
    dataset = make_dataset(refavs_tree, 'test_s')
    rows = [i for i in indices_of(dataset, 'MDyjY3uiWp0_297000_307000')
            if dataset.get_data_info(i)['uid'].endswith('_saw_4')]
    assert len(rows) == 2
    a, b = (dataset[i]['data_samples'] for i in rows)
    assert (a.fid, b.fid) == (4, 0)
    assert a.text != b.text
    assert not torch.equal(a.gt_sem_seg.data, b.gt_sem_seg.data)


#: The fields of ``audio_fix`` checked, in the order of the table below.
AUDIO_FIX_FIELDS = ('orig_sample_rate', 'orig_channels', 'resampled',
                    'downmixed', 'padded_samples', 'trimmed_samples')


@pytest.mark.parametrize('split,name,fields', [
    ('train', '-1HyqEM_VwM_137000_147000', (48000, 2, True, True, 0, 0)),
    # 20 s of 44.1 kHz mono trimmed to the clip's 10 s
    ('train', 'null_c-45AfEdAU050_99000_109000',
     (44100, 1, True, False, 0, 160000)),
    # 3.5 s padded to 10 s
    ('val', 'null_m-WZAT_QnhbPs_110000_120000',
     (44100, 1, True, False, 104000, 0)),
    ('test_u', 'AL9pqcOjpGQ_43000_53000', (16000, 1, False, False, 0, 0)),
])
def test_audio_becomes_16k_mono_of_clip_length(refavs_tree, split, name,
                                               fields):
    expect = dict(zip(AUDIO_FIX_FIELDS, fields))
    dataset = make_dataset(refavs_tree, split)
    sample = dataset[indices_of(dataset, name)[0]]
    fix = sample['data_samples'].audio_fix
    assert {k: fix[k] for k in expect} == expect
    audio = sample['inputs']['audio'].numpy()
    assert audio.shape == (160000, )
    # a 440 Hz tone of amplitude 0.3 survives the conversion
    have = min(160000, 160000 - expect['padded_samples'])
    assert np.abs(audio[:have]).max() == pytest.approx(0.3, abs=0.02)
    assert not audio[have:].any()
    # the dominant frequency is still 440 Hz after resampling
    spectrum = np.abs(np.fft.rfft(audio[:16000]))
    assert np.argmax(spectrum) == 440


@pytest.mark.parametrize('name,split', [
    ('-1HyqEM_VwM_137000_147000', 'train'),  # L
    ('--KCIeTv6PM_14000_24000', 'val'),  # RGB
    ('AL9pqcOjpGQ_43000_53000', 'test_u'),  # palette
])
def test_mask_encodings_read_as_nonzero(refavs_tree, name, split):
    no_resize = [t for t in TEST_PIPELINE if t['type'] != 'ResizeClip']
    dataset = make_dataset(refavs_tree, split, pipeline=no_resize)
    index = indices_of(dataset, name)[0]
    ds = dataset[index]['data_samples']
    fid = ds.fid
    size = SAMPLED_CLIPS[name][0]
    expected = np.stack([object_mask(fid, i, size) for i in range(10)])
    np.testing.assert_array_equal(ds.gt_sem_seg.data.numpy(), expected)


def test_eval_masks_follow_the_benchmark_rule(refavs_tree):
    """3-channel read, bilinear 256x256, grey, > 0 (the benchmark's code)."""
    import cv2
    dataset = make_dataset(refavs_tree, 'val')
    index = indices_of(dataset, '--KCIeTv6PM_14000_24000')[0]
    ds = dataset[index]['data_samples']
    for i, path in enumerate(ds.mask_paths):
        img = cv2.imread(path)
        img = cv2.resize(img, (256, 256))
        expected = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) > 0
        np.testing.assert_array_equal(ds.gt_eval_masks.data[i].numpy(),
                                      expected)
    assert ds.gt_eval_masks.data.any()


def test_unknown_split_argument(refavs_tree):
    with pytest.raises(ValueError, match='test_x'):
        make_dataset(refavs_tree, 'test_x')


def write_csv(path, header, rows):
    with open(path, 'w') as f:
        f.write(header + '\n' + ''.join(r + '\n' for r in rows))


def test_metadata_missing_column(tmp_path):
    write_csv(tmp_path / 'metadata.csv', 'vid,uid,split,exp',
              ['a_0_1,a_0_1_cat_1,train,The cat.'])
    with pytest.raises(RefAVSDataError, match=r'metadata\.csv: missing '
                       r'column\(s\) fid'):
        make_dataset(str(tmp_path), 'train', pipeline=[])


def test_metadata_unknown_split_names_line(tmp_path):
    write_csv(tmp_path / 'metadata.csv', 'vid,uid,split,fid,exp',
              ['a_0_1,a_0_1_cat_1,train,0,The cat.',
               'a_0_1,a_0_1_cat_2,tset_s,0,The cat.'])
    with pytest.raises(RefAVSDataError,
                       match=r"metadata\.csv: line 3: unknown split 'tset_s'"):
        make_dataset(str(tmp_path), 'train', pipeline=[])


def sample_index(dataset, name):
    return indices_of(dataset, name)[0]


BREAKS = {
    'missing frame': (
        lambda r, n: os.remove(osp.join(r, 'media', n, 'frames', '3.jpg')),
        r'frames: holds 9 frames, expected 10'),
    'corrupt frame': (
        lambda r, n: open(osp.join(r, 'media', n, 'frames', '3.jpg'),
                          'wb').write(b'not a jpeg'),
        r'3\.jpg: cannot decode the frame image'),
    'extra frame': (
        lambda r, n: open(osp.join(r, 'media', n, 'frames', '10.jpg'),
                          'wb').write(b'x'),
        r'frames: holds 11 frames, expected 10'),
    'missing audio': (
        lambda r, n: os.remove(osp.join(r, 'media', n, 'audio.wav')),
        r'audio\.wav: audio file is missing'),
    'corrupt audio': (
        lambda r, n: open(osp.join(r, 'media', n, 'audio.wav'),
                          'wb').write(b'RIFF0000WAVEjunk'),
        r'audio\.wav: cannot decode audio'),
    'missing mask folder': (
        lambda r, n: __import__('shutil').rmtree(
            osp.join(r, 'gt_mask', n, 'fid_0')),
        r'fid_0: folder is missing'),
    'missing mask': (
        lambda r, n: os.remove(osp.join(r, 'gt_mask', n, 'fid_0',
                                        '00004.png')),
        r'fid_0: holds 9 masks, expected 10'),
    'corrupt mask': (
        lambda r, n: open(osp.join(r, 'gt_mask', n, 'fid_0', '00004.png'),
                          'wb').write(b'\x89PNG garbage'),
        r'00004\.png: cannot decode the mask image'),
}


@pytest.mark.parametrize('fault', list(BREAKS))
def test_bad_input_names_file_and_problem(small_tree, copy_tree, fault):
    root = copy_tree(small_tree)
    name = '--KCIeTv6PM_14000_24000'
    dataset = make_dataset(root, 'val')
    index = sample_index(dataset, name)
    dataset[index]  # loads before the fault
    breaker, message = BREAKS[fault]
    breaker(root, name)
    with pytest.raises(RefAVSDataError, match=message) as info:
        dataset.prepare_data(index)
    assert name in info.value.path


OBJECTS_PIPELINE = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipAudio', sample_rate=16000),
    dict(type='LoadClipMasks'),
    dict(type='LoadClipObjects'),
    dict(type='PackClipInputs'),
]


@pytest.mark.parametrize('name,split', [
    ('-1HyqEM_VwM_137000_147000', 'train'),  # two objects
    ('MDyjY3uiWp0_297000_307000', 'test_s'),  # one uid, two fids
    ('null_c-45AfEdAU050_99000_109000', 'train'),  # no ordinary row
])
def test_clip_objects_map_every_referred_object(refavs_tree, name, split):
    """Frame 0's map holds each object an ordinary row of the clip refers
    to (k + 1 on the k-th), its category from the uid; every row of the
    clip gets the same map (all 0 for a null clip)."""
    dataset = make_dataset(refavs_tree, split, pipeline=OBJECTS_PIPELINE)
    rows = [r for r in real_metadata_rows() if r['uid'].rsplit('_', 2)[0]
            == name and not name.startswith(('null_c-', 'null_m-'))]
    objects = sorted({(int(r['fid']), r['uid'].rsplit('_', 2)[1])
                      for r in rows})
    size = SAMPLED_CLIPS[name][0]
    expected = np.zeros(object_mask(0, 0, size).shape, np.uint8)
    for k, (fid, _) in enumerate(objects):
        expected[object_mask(fid, 0, size)] = k + 1
    assert indices_of(dataset, name)
    for index in indices_of(dataset, name):
        ds = dataset[index]['data_samples']
        assert ds.object_categories == [c for _, c in objects]
        np.testing.assert_array_equal(ds.gt_objects.data[0].numpy(),
                                      expected)


def test_clip_objects_resize_with_the_masks(refavs_tree):
    pipeline = OBJECTS_PIPELINE[:-1] + [
        dict(type='ResizeClip', scale=(64, 64), mask_scale=(32, 32)),
        dict(type='PackClipInputs')]
    dataset = make_dataset(refavs_tree, 'train', pipeline=pipeline)
    ds = dataset[indices_of(dataset, '-1HyqEM_VwM_137000_147000')[0]][
        'data_samples']
    assert ds.gt_objects.shape == (32, 32)
    assert ds.gt_objects.data.max() == len(ds.object_categories) == 2


def test_clip_objects_of_several_frames(refavs_tree):
    """``frame=(0, 2)``: one map per frame, each as that frame's alone,
    resized with the masks; their indices in ``object_frames``."""
    name = '-1HyqEM_VwM_137000_147000'

    def sample(**objects):
        pipeline = OBJECTS_PIPELINE[:3] + [
            dict(type='LoadClipObjects', **objects),
            dict(type='ResizeClip', scale=(64, 64), mask_scale=(32, 32)),
            dict(type='PackClipInputs')]
        dataset = make_dataset(refavs_tree, 'train', pipeline=pipeline)
        return dataset[indices_of(dataset, name)[0]]['data_samples']

    both = sample(frame=(0, 2))
    assert both.gt_objects.data.shape == (2, 32, 32)
    assert both.object_frames == [0, 2]
    for t, step in enumerate((0, 2)):
        one = sample(frame=step)
        assert one.object_frames == [step]
        torch.testing.assert_close(both.gt_objects.data[t],
                                   one.gt_objects.data[0])


def test_clip_objects_name_a_missing_mask(small_tree, copy_tree):
    root = copy_tree(small_tree)
    name = '--KCIeTv6PM_14000_24000'
    dataset = make_dataset(root, 'val', pipeline=[
        dict(type='LoadClipFrames'), dict(type='LoadClipObjects')])
    index = sample_index(dataset, name)
    dataset[index]
    os.remove(osp.join(root, 'gt_mask', name, 'fid_0', '00000.png'))
    with pytest.raises(RefAVSDataError, match=r'fid_0.00000\.png') as info:
        dataset.prepare_data(index)
    assert name in info.value.path
