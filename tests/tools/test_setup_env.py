"""tools/setup_env.sh decides, without installing anything (``--plan``):
extras are added to the environment and kept, a rebuild happens only when
the base files change, and never under a process running from it."""
import hashlib
import importlib.util
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASE_REQS = ('build', 'torch', 'runtime', 'tests', 'lock')


def python_version() -> str:
    return subprocess.run([sys.executable, '-c',
                           'import sys; print(sys.version)'],
                          capture_output=True, text=True,
                          check=True).stdout


def read(path) -> bytes:
    with open(path, 'rb') as f:
        return f.read()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def repo(tmp_path):
    """The script, requirements and setup.py in a scratch tree, with a
    .venv whose interpreter is this one."""
    for name in ('tools', 'requirements'):
        (tmp_path / name).mkdir()
    shutil.copy(osp.join(ROOT, 'tools', 'setup_env.sh'), tmp_path / 'tools')
    shutil.copy(osp.join(ROOT, 'setup.py'), tmp_path)
    for name in os.listdir(osp.join(ROOT, 'requirements')):
        shutil.copy(osp.join(ROOT, 'requirements', name),
                    tmp_path / 'requirements')
    (tmp_path / '.venv' / 'bin').mkdir(parents=True)
    os.symlink(sys.executable, tmp_path / '.venv' / 'bin' / 'python')
    return tmp_path


def base_fingerprint(repo) -> str:
    data = python_version().encode() + b''.join(
        read(repo / 'requirements' / f'{n}.txt') for n in BASE_REQS) + \
        read(repo / 'setup.py')
    return sha(data)


def legacy_fingerprint(repo, extras: str) -> str:
    """The fingerprint of the script before extras were recorded."""
    files = sorted(os.listdir(repo / 'requirements'))
    data = python_version().encode() + f'extras: {extras}\n'.encode() + \
        b''.join(read(repo / 'requirements' / n) for n in files) + \
        read(repo / 'setup.py')
    return sha(data)


def record(repo, extras=('web', )) -> None:
    """An environment installed by the script with ``extras``."""
    (repo / '.venv' / '.sam2love-env').write_text(
        base_fingerprint(repo) + '\n')
    (repo / '.venv' / '.sam2love-extras').write_text(''.join(
        f'{e} {sha(read(repo / "requirements" / f"{e}.txt"))}\n'
        for e in extras))
    (repo / '.venv' / '.sam2love-bytecode').touch()


def setup_env(repo, *args, extras=None, **variables):
    env = {k: v for k, v in os.environ.items() if k != 'SAM2LOVE_EXTRAS'}
    env.update(variables)
    env.update(PYTHON=sys.executable, SAM2LOVE_CACHE=str(repo / 'cache'))
    if extras is not None:
        env['SAM2LOVE_EXTRAS'] = extras
    return subprocess.run(['bash', str(repo / 'tools' / 'setup_env.sh'),
                           *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_a_fresh_clone_builds_with_the_extras_asked_for(repo):
    shutil.rmtree(repo / '.venv')
    out = setup_env(repo, '--plan', extras='web')
    assert out.returncode == 0, out.stderr
    assert 'plan: rebuild' in out.stdout and 'no environment yet' in out.stdout
    assert 'plan: install extras: web' in out.stdout


def test_an_extra_is_added_and_the_installed_ones_are_kept(repo):
    record(repo, ['web'])
    for extras in (None, ''):  # tools/run_tests.sh, tools/quickstart.sh
        out = setup_env(repo, '--plan', extras=extras)
        assert out.returncode == 0, out.stderr
        assert 'up to date' in out.stdout and '(extras: web)' in out.stdout
        assert 'rebuild' not in out.stdout
    out = setup_env(repo, '--plan', extras='web')
    assert 'up to date' in out.stdout
    out = setup_env(repo, '--plan', extras='deepspeed')
    assert 'plan: install extras: deepspeed' in out.stdout
    assert 'rebuild' not in out.stdout
    # an extra's own file changed: that extra is installed again, in place
    with open(repo / 'requirements' / 'web.txt', 'a') as f:
        f.write('# bumped\n')
    out = setup_env(repo, '--plan')
    assert 'plan: install extras: web' in out.stdout
    assert 'rebuild' not in out.stdout


def test_a_base_change_rebuilds_with_the_installed_extras(repo):
    record(repo, ['web'])
    with open(repo / 'requirements' / 'runtime.txt', 'a') as f:
        f.write('# bumped\n')
    out = setup_env(repo, '--plan')
    assert 'plan: rebuild' in out.stdout and 'base requirements' in \
        out.stdout
    assert 'plan: install extras: web' in out.stdout


def test_an_environment_in_use_is_not_deleted_without_force(repo):
    record(repo, ['web'])
    with open(repo / 'requirements' / 'runtime.txt', 'a') as f:
        f.write('# bumped\n')
    user = subprocess.Popen(  # runs from the environment's interpreter
        [str(repo / '.venv' / 'bin' / 'python'), '-c',
         'import time; time.sleep(60)'])
    try:
        deadline = time.monotonic() + 10
        while not osp.exists(f'/proc/{user.pid}/cmdline') and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        out = setup_env(repo)  # not --plan: it would delete it
        assert out.returncode == 3, out.stdout + out.stderr
        assert f'  {user.pid} ' in out.stdout and 'time.sleep' in out.stdout
        assert 'rerun with --force' in out.stdout
        assert (repo / '.venv' / '.sam2love-env').exists()
        out = setup_env(repo, '--force', '--plan')
        assert out.returncode == 0
        assert f'plan: delete it under processes {user.pid}' in out.stdout
    finally:
        user.kill()
        user.wait()


def test_an_environment_of_the_previous_format_is_taken_over(repo):
    """A .venv installed before extras were recorded (web included) is
    kept as it is, its extras recorded."""
    state = repo / '.venv' / '.sam2love-env'
    state.write_text(legacy_fingerprint(repo, 'web') + '\n')
    (repo / '.venv' / '.sam2love-bytecode').touch()
    out = setup_env(repo, '--plan')
    assert 'taking over' in out.stdout and 'extras: web' in out.stdout
    assert 'up to date' in out.stdout and 'rebuild' not in out.stdout
    assert not (repo / '.venv' / '.sam2love-extras').exists()  # a plan
    out = setup_env(repo)
    assert out.returncode == 0, out.stderr
    assert state.read_text().strip() == base_fingerprint(repo)
    assert (repo / '.venv' / '.sam2love-extras').read_text().split()[0] == \
        'web'
    assert 'taking over' not in setup_env(repo, '--plan').stdout


def test_what_the_project_imports_is_compiled_once(repo):
    """Installs skip bytecode, and with PYTHONDONTWRITEBYTECODE set no
    process writes it: an environment without it gets it compiled once (a
    plan compiles nothing)."""
    record(repo, [])
    # the scratch .venv is this environment: its pyvenv.cfg and packages
    real = osp.dirname(osp.dirname(sys.executable))
    shutil.copy(osp.join(real, 'pyvenv.cfg'), repo / '.venv')
    os.symlink(osp.join(real, 'lib'), repo / '.venv' / 'lib')
    marker = repo / '.venv' / '.sam2love-bytecode'
    marker.unlink()
    assert 'compiling' not in setup_env(repo, '--plan').stdout
    assert not marker.exists()
    out = setup_env(repo, PYTHONDONTWRITEBYTECODE='1')
    assert out.returncode == 0, out.stderr
    assert 'compiling the bytecode' in out.stdout and marker.exists()
    import mmengine.runner
    assert osp.exists(importlib.util.cache_from_source(
        mmengine.runner.__file__))
    out = setup_env(repo, PYTHONDONTWRITEBYTECODE='1')
    assert 'up to date' in out.stdout and 'compiling' not in out.stdout


def test_an_unknown_extra_is_refused(repo):
    record(repo, [])
    out = setup_env(repo, '--plan', extras='webb')
    assert out.returncode == 2
    assert 'unknown extra: webb (known: deepspeed web' in out.stdout
