"""Segment referred objects in many videos, resumably, over processes.

    python tools/batch_inference.py CONFIG CHECKPOINT INPUT --out DIR
        [--text "the guitar" ...] [--masks-format png|rle] [--overlay]
        [--window] [--device cpu] [--launcher none|pytorch]
        [--no-resume] [--cfg-options ...]
    tools/dist_batch_inference.sh CONFIG CHECKPOINT INPUT NPROC --out DIR

INPUT is one of

- a folder of videos (any file PyAV reads, or Ref-AVS clip folders with
  ``frames/``): every video gets the ``--text`` expressions;
- a CSV with a header ``video,text[,audio,start,end,id]``, one row per
  expression (rows of one video are gathered in order);
- a JSONL file, one video a line: ``{"video": ..., "texts": [...],
  "audio": ..., "start": ..., "end": ..., "id": ...}`` (all but ``video``
  and ``texts`` optional).

Relative paths are relative to the list's folder. Each video is streamed
to its end (or ``end``; ``--window`` keeps the clip window only) with all
its expressions in one pass, and written to ``DIR/<id>/``: masks
(``masks/expression_<k>/*.png`` or ``masks.jsonl`` of COCO RLEs),
``predictions.json``, the overlay with ``--overlay``, and last
``done.json``. A video with ``done.json`` is skipped on the next run, so a
killed run loses at most the videos in flight (their partial folders are
cleared when they are redone). A video that fails (unreadable, no sound,
empty expression, ...) gets ``error.json`` with the reason and the run
goes on; it is retried on the next run.

With ``--launcher pytorch`` (torchrun) video i goes to rank ``i % world``;
rank 0 writes ``DIR/summary.json`` once all ranks are done: every video's
status, frames, time and warnings (``videos``, ``counts``, ``frames``: of
all runs) and this run's own figures (``run``: the videos it processed,
their frames and time, its wall time and throughput; videos done by an
earlier run are not counted there).
"""
import argparse
import csv
import json
import os
import os.path as osp
import shutil
import sys
import time
import traceback

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')

VIDEO_EXTENSIONS = ('.mp4', '.mkv', '.webm', '.mov', '.avi', '.m4v',
                    '.mpg', '.mpeg', '.flv', '.ts')
DONE, ERROR = 'done.json', 'error.json'


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('input', help='folder of videos, .csv or .jsonl')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--text', action='append', default=[],
                        help='expression for every video of a folder')
    parser.add_argument('--masks-format', choices=('png', 'rle'),
                        default='rle')
    parser.add_argument('--overlay', action='store_true',
                        help='also write each overlay.mp4')
    parser.add_argument('--window', action='store_true',
                        help='the clip window only (default: stream to the '
                        'end of each video)')
    parser.add_argument('--no-resume', action='store_true',
                        help='redo videos that are already done')
    parser.add_argument('--device', default=None)
    parser.add_argument('--launcher', choices=['none', 'pytorch'],
                        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


# ------------------------------------------------------------------ input
class ListError(ValueError):
    """A video list that cannot be read (names the file and line)."""


def _unique_id(name: str, taken: set) -> str:
    base = ''.join(c if c.isalnum() or c in '-_.' else '_' for c in name)
    base = base.strip('.') or 'video'
    uid, n = base, 2
    while uid in taken:
        uid, n = f'{base}_{n}', n + 1
    taken.add(uid)
    return uid


def _item(video: str, texts: list, root: str, taken: set, where: str,
          audio=None, start=None, end=None, uid=None) -> dict:
    if not video:
        raise ListError(f'{where}: no video')
    path = video if osp.isabs(video) else osp.join(root, video)
    if audio:
        audio = audio if osp.isabs(audio) else osp.join(root, audio)
    name = uid or osp.splitext(osp.basename(osp.normpath(video)))[0]
    return dict(id=_unique_id(str(name), taken), video=path,
                texts=list(texts), audio=audio or None,
                start=float(start or 0.0),
                end=None if end in (None, '') else float(end), where=where)


def read_items(source: str, texts: list[str]) -> list[dict]:
    """The videos of INPUT, each ``dict(id, video, texts, audio, start,
    end, where)`` (``where``: the file and line it comes from).

    Raises:
        ListError: INPUT does not exist, or a line cannot be read.
    """
    taken: set = set()
    if osp.isdir(source):
        if not texts:
            raise ListError(f'{source}: a folder of videos needs --text')
        names = sorted(n for n in os.listdir(source)
                       if n.lower().endswith(VIDEO_EXTENSIONS)
                       or osp.isdir(osp.join(source, n, 'frames')))
        if not names:
            raise ListError(f'{source}: holds no video ('
                            f'{", ".join(VIDEO_EXTENSIONS)} or clip '
                            'folders with frames/)')
        return [_item(n, texts, source, taken, osp.join(source, n))
                for n in names]
    if not osp.isfile(source):
        raise ListError(f'{source}: does not exist')
    root = osp.dirname(osp.abspath(source))
    if source.lower().endswith('.jsonl'):
        items = []
        with open(source) as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = f'{source}:{i}'
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ListError(f'{where}: not JSON ({e})') from None
                row_texts = row.get('texts', row.get('text', texts))
                if isinstance(row_texts, str):
                    row_texts = [row_texts]
                items.append(_item(row.get('video'), row_texts or texts,
                                   root, taken, where, row.get('audio'),
                                   row.get('start'), row.get('end'),
                                   row.get('id')))
        return items
    if source.lower().endswith('.csv'):
        groups: dict = {}
        with open(source, newline='') as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or 'video' not in reader.fieldnames:
                raise ListError(f'{source}: needs a header with a "video" '
                                'column (video,text[,audio,start,end,id])')
            for i, row in enumerate(reader, 2):
                key = (row.get('id') or row['video'], row['video'])
                group = groups.setdefault(key, dict(row=row, texts=[],
                                                    where=f'{source}:{i}'))
                if row.get('text'):
                    group['texts'].append(row['text'])
        return [_item(g['row']['video'], g['texts'] or texts, root, taken,
                      g['where'], g['row'].get('audio'),
                      g['row'].get('start'), g['row'].get('end'),
                      g['row'].get('id')) for g in groups.values()]
    raise ListError(f'{source}: INPUT must be a folder, a .csv or a .jsonl')


# ------------------------------------------------------------------ running
def write_json(path: str, record: dict) -> None:
    """Write atomically: a killed run never leaves half a file."""
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(record, f, indent=2)
    os.replace(tmp, path)


def run_item(inferencer, item: dict, out: str, args,
             run_id: str | None = None) -> dict:
    """Segment one video into ``out/<id>/``; returns its record (``run``:
    ``run_id``, the run that processed it)."""
    folder = osp.join(out, item['id'])
    if osp.isdir(folder):  # a partial folder of a killed or failed run
        shutil.rmtree(folder)
    os.makedirs(folder)
    record = dict(id=item['id'], video=item['video'], texts=item['texts'],
                  where=item['where'], run=run_id)
    start = time.perf_counter()
    try:
        if not item['texts']:
            raise ValueError('no expression for this video')
        if args.window and item['end'] is not None:
            raise ValueError(f'end={item["end"]:g} is used only when '
                             'streaming (not with --window)')
        window = dict(end=item['end'], masks_format=args.masks_format,
                      overlay=args.overlay) if not args.window else {}
        result = inferencer(
            item['video'], item['texts'], audio=item['audio'],
            start=item['start'], stream=not args.window, propagate=False,
            out_dir=folder, **window)
    except Exception as e:  # one bad video must not stop the run
        record.update(status='error', error=f'{type(e).__name__}: {e}',
                      traceback=traceback.format_exc(limit=3),
                      seconds=time.perf_counter() - start)
        write_json(osp.join(folder, ERROR), record)
        return record
    record.update(
        status='done', frames=len(result['frame_times']),
        seconds=time.perf_counter() - start, warnings=result['warnings'],
        frames_with_object=[len(p.get('frames_with_object') or [
            i for i, m in enumerate(p['masks']) if m.any()])
            for p in result['predictions']])
    write_json(osp.join(folder, DONE), record)
    return record


def summarise(items: list[dict], out: str, wall: float, world: int,
              run_id: str | None = None) -> dict:
    """Every video's record, from the files the ranks wrote, and this
    run's figures (``run``): only the videos whose record ``run_id``
    wrote count towards its frames, time and throughput."""
    videos, frames = [], 0
    mine = dict(videos=0, done=0, error=0, frames=0, video_seconds=0.0)
    for item in items:
        record = dict(id=item['id'], video=item['video'], status='missing')
        for name in (DONE, ERROR):
            path = osp.join(out, item['id'], name)
            if osp.isfile(path):
                with open(path) as f:
                    record = json.load(f)
                record.pop('traceback', None)
                break
        videos.append(record)
        done = record['status'] == 'done'
        frames += record['frames'] if done else 0
        if run_id is not None and record.get('run') == run_id:
            mine['videos'] += 1
            mine[record['status']] += 1
            if done:
                mine['frames'] += record['frames']
                mine['video_seconds'] += record['seconds']
    counts = {s: sum(v['status'] == s for v in videos)
              for s in ('done', 'error', 'missing')}
    mine.update(id=run_id, processes=world, wall_seconds=wall,
                frames_per_second=mine['frames'] / wall if wall else None)
    return dict(videos=videos, counts=counts, frames=frames,
                processes=world, run=mine)


def new_run_id(world: int) -> str:
    """A name for this run, the same on every rank (rank 0's, broadcast)."""
    run_id = [f'{time.strftime("%Y%m%d-%H%M%S")}-{os.getpid()}']
    if world > 1:
        import torch.distributed as dist
        dist.broadcast_object_list(run_id, src=0)
    return run_id[0]


def init_distributed(args) -> tuple[int, int, str | None]:
    import torch
    if args.launcher == 'none':
        return 0, 1, args.device
    import torch.distributed as dist
    cuda = torch.cuda.is_available() and args.device != 'cpu'
    dist.init_process_group(backend='nccl' if cuda else 'gloo')
    local = int(os.environ.get('LOCAL_RANK', args.local_rank))
    device = f'cuda:{local}' if cuda else 'cpu'
    if cuda:
        torch.cuda.set_device(local)
    return dist.get_rank(), dist.get_world_size(), device


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmengine.logging import print_log
    from mmengine.utils import ProgressBar

    from sam2love.apis import CheckpointError, RefAVSInferencer
    from sam2love.utils import load_config
    try:
        items = read_items(args.input, args.text)
    except ListError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    rank, world, device = init_distributed(args)
    os.makedirs(args.out, exist_ok=True)
    wall = time.perf_counter()
    mine = items[rank::world]
    todo = [it for it in mine if args.no_resume or not osp.isfile(
        osp.join(args.out, it['id'], DONE))]
    print_log(f'rank {rank}/{world}: {len(mine)} videos, '
              f'{len(mine) - len(todo)} already done', logger='current')
    try:
        cfg = load_config(args.config, args.cfg_options)
        inferencer = RefAVSInferencer(cfg, weights=args.checkpoint,
                                      device=device, show_progress=False)
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    run_id = new_run_id(world)
    bar = ProgressBar(len(todo)) if rank == 0 and todo else None
    failed = 0
    for item in todo:
        record = run_item(inferencer, item, args.out, args, run_id)
        if record['status'] == 'error':
            failed += 1
            print_log(f'{item["video"]} ({item["where"]}): '
                      f'{record["error"]}', logger='current',
                      level=30)
        for warning in record.get('warnings', []):
            print_log(f'{item["where"]}: {warning}', logger='current',
                      level=30)
        if bar is not None:
            bar.update()
    if world > 1:
        import torch.distributed as dist
        dist.barrier()
    if rank == 0:
        summary = summarise(items, args.out, time.perf_counter() - wall,
                            world, run_id)
        write_json(osp.join(args.out, 'summary.json'), summary)
        c, mine = summary['counts'], summary['run']
        print(f'\n{c["done"]} done, {c["error"]} failed, {c["missing"]} '
              f'missing of {len(items)} videos; this run: {mine["videos"]} '
              f'videos, {mine["frames"]} frames in '
              f'{mine["wall_seconds"]:.1f} s on {world} process(es); '
              f'summary: {osp.join(args.out, "summary.json")}')
        for video in summary['videos']:
            if video['status'] == 'error':
                print(f'  failed: {video["video"]}: {video["error"]}')
    if world > 1:
        import torch.distributed as dist
        dist.destroy_process_group()
    return 0


if __name__ == '__main__':
    sys.exit(main())
