"""Side-by-side timings on the machine at hand: ``import torch``, one cold ``grader run`` of a full
correct submission, and a batch of identical correct submissions.

    python benchmarks/bench.py [--repeat 3] [--jobs CORES] [--batch N] [--submission DIR]

(``make bench`` runs it in the project's .venv.) Prints the machine and a markdown table to paste
into benchmarks/README.md; ``--json FILE`` also saves every figure. It takes a minute or two.

- bare import: wall time of ``python -c "import torch"``, taken before each cold run and
  before each batch (median of all: the unit of the "× import torch" column).
- cold run: wall time of ``grader run SUBMISSION`` in a fresh process (median); its ratio is the
  median of each cold run over the import taken just before it. SUBMISSION is graded from a copy
  without ``__pycache__``, as a student's directory is; the grader itself runs with its bytecode
  caches written (as after any first run), even where ``PYTHONDONTWRITEBYTECODE`` is set. The
  submission must get full marks (a correct one), else the benchmark stops.
- notebook: ``grader run work.ipynb``, the same submission as one notebook (its modules' code
  split into cells at each ``def`` and ``class``, a heading per module, and one cell holding a
  stored output of 10 MB, as a plotted figure is), each run right after a cold run of the
  modules: grading a notebook must cost no more than grading the same code as ``.py`` (its
  cells here do nothing but define: no demo to pay for). Its ratios are medians over pairs, of
  wall time and of the CPU time of all processes (the target: CPU time is what a shared machine's
  load does not blur).
- ``%grade`` in a real kernel (jupyter_client, a fresh python3 kernel each time): the first
  ``%grade mlp`` of a kernel in the cell that loads the extension (the grading process's whole
  cold start), the first one 15 s after ``%load_ext grader`` (its start overlapped, as while a
  student writes code), then ``%grade mlp`` repeated (one exercise: the target is 1 s, the
  largest of them), and ``%grade`` of the whole submission's code run in the kernel.
- batch: ``grader run --each DIR --jobs J`` over J copies of the submission, then over N. The
  marginal cost per extra submission is (T_N − T_J) / (N − J): start-up cancels out; its ratio
  is over the imports taken just before the two batches. Also shown:
  the steady-state time between results in the big batch, and the marginal CPU time (of every
  process of the batch) per submission, which divided by J is what idle cores would give on a
  shared machine. Peak RSS is the largest VmHWM seen for each kind of process (sampled every
  20 ms): the coordinator, the grading processes, the worker templates, and the confined workers
  (a forked worker shares most pages with its template, so its RSS counts them again).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"cold": 2.0, "marginal": 0.3, "worker_rss_mb": 500, "notebook": 1.05, "kernel_repeat_s": 1.0}


def grader_command() -> list[str]:
    script = Path(sys.executable).with_name("grader")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from grader.cli import main; main()"]


def timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return time.perf_counter() - start, p


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / (1 << 20):.0f} GiB"
    except (OSError, AttributeError):
        pass
    torch_version = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return {
        "cpu": cpu,
        "cores": cores,
        "memory": mem,
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "torch": torch_version,
    }


# -- process-tree memory sampling -------------------------------------------------------------------


def _proc(pid: int) -> tuple[int, str, int] | None:
    """(ppid, cmdline, VmHWM in kB) of a process, or None if it is gone."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = Path(f"/proc/{pid}/status").read_text()
        if Path(f"/proc/{pid}/cmdline").read_bytes() != cmd:
            return None  # it exec'd in between: the status may be its parent's (a vfork shares it)
    except OSError:
        return None
    cmd = cmd.replace(b"\0", b" ").decode(errors="replace")
    ppid = int(re.search(r"PPid:\s+(\d+)", status).group(1))
    hwm = re.search(r"VmHWM:\s+(\d+)", status)
    return ppid, cmd, int(hwm.group(1)) if hwm else 0


class Sampler(threading.Thread):
    """Peak RSS per kind of process under ``root``, sampled until stopped."""

    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root, self.peaks, self.counts, self._halt = root, {}, {}, threading.Event()
        self._seen: dict[str, dict[int, int]] = {}
        # Processes older than the one measured are none of its own: never read again. Reading
        # every process of the machine took ~7 ms a sample, a quarter of a core at this rate,
        # taken from the 2 cores being measured.
        self._older = {int(e) for e in os.listdir("/proc") if e.isdigit()} - {root}

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            time.sleep(0.02)

    def sample(self) -> None:
        procs = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in self._older:
                info = _proc(int(entry))
                if info:
                    procs[int(entry)] = info
        kind_of: dict[int, str] = {}

        def kind(pid: int) -> str | None:
            if pid in kind_of:
                return kind_of[pid]
            if pid == self.root:
                k = "coordinator"
            elif pid not in procs or procs[pid][0] in (0, 1):
                k = None
            else:
                parent = kind(procs[pid][0])
                cmd = procs[pid][1]
                if parent is None:
                    k = None
                elif "grader.trusted.batch" in cmd:
                    k = "grading process"
                elif "_grader_worker" in cmd and parent == "grading process":
                    k = "worker template"
                elif parent in ("worker template", "worker"):
                    k = "worker"
                elif "bwrap" in cmd.split(" ")[0]:
                    k = "sandbox"
                else:
                    k = parent if parent in ("worker", "sandbox") else "other"
            kind_of[pid] = k
            return k

        for pid, (_, _, hwm) in procs.items():
            k = kind(pid)
            if k:
                self.peaks[k] = max(self.peaks.get(k, 0), hwm)
                self._seen.setdefault(k, {})
                self._seen[k][pid] = self._seen[k].get(pid, 0) + 1

    def stop(self) -> dict:
        self._halt.set()
        self.join()
        # Processes seen twice at least: a fork about to exec shows its parent's command line once.
        return {
            k: {"peak_rss_mb": round(v / 1024, 1), "processes": sum(n > 1 for n in self._seen[k].values())}
            for k, v in self.peaks.items()
        }


# -- the measurements -------------------------------------------------------------------------------


def bare_import(repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t, p = timed([sys.executable, "-c", "import torch"])
        if p.returncode:
            sys.exit(f"python -c 'import torch' failed: {p.stderr}")
        out.append(t)
    return out


def cold_run(
    submission: Path, repeat: int, tmp: Path, sandbox: str | None, copy: bool = True
) -> tuple[list[float], list[float], dict, list[float]]:
    """Cold runs, each right after a bare import: on a shared machine whose speed drifts over
    minutes, each ratio compares two runs taken seconds apart. The submission is graded from a
    copy without ``__pycache__``, as a student's directory is (``copy``: a directory)."""
    if copy:
        copied = tmp / "cold-submission"
        if not copied.exists():
            shutil.copytree(submission, copied, ignore=shutil.ignore_patterns("__pycache__"))
        submission = copied
    out, cpus, result, imports = [], [], {}, []
    for i in range(repeat):
        imports += bare_import(1)
        target = tmp / f"cold-{i}.json"
        cpu0 = _children_cpu()
        t, p = timed(
            [
                *grader_command(),
                "run",
                str(submission),
                "--seed",
                "1",
                "-f",
                "json",
                "-o",
                str(target),
                *(["--sandbox", sandbox] if sandbox else []),
            ]
        )
        cpus.append(_children_cpu() - cpu0)
        result = json.loads(target.read_text()) if target.exists() else {}
        if p.returncode != 0 or result.get("score") != result.get("max_score"):
            sys.exit(f"the cold run did not give full marks (exit {p.returncode}): {p.stderr[-2000:]}")
        out.append(t)
    return out, cpus, result, imports


def code_cells_of(submission: Path) -> dict[str, list[str]]:
    """The submission's modules cut into cells: per module, a cell per top-level ``def``/``class``
    (with the comments above it), in one namespace."""
    import ast

    out = {}
    for module in sorted(submission.glob("*.py")):
        if module.name == "__init__.py":
            continue
        source = module.read_text()
        # One namespace: a registry of the submission's own factories finds them in it.
        source = re.sub(
            r"def _factory_module\(name\):\n(    .*\n)+",
            "def _factory_module(name):\n    import sys\n\n    return sys.modules[__name__]\n",
            source,
        )
        lines = source.splitlines()
        starts = [0]
        for node in ast.parse(source).body[1:]:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
                while start > 0 and lines[start - 1].startswith("#"):
                    start -= 1
                starts.append(start)
        out[module.stem] = ["\n".join(lines[a:b]).strip() for a, b in zip(starts, [*starts[1:], len(lines)])]
    return out


def notebook_of(submission: Path, path: Path) -> Path:
    """The submission's modules as one notebook: a heading per module, its cells
    (``code_cells_of``), and a cell with a 10 MB stored output."""
    import base64

    import nbformat
    from nbformat import v4

    cells = []
    for stem, sources in code_cells_of(submission).items():
        cells.append(v4.new_markdown_cell(f"## {stem}"))
        cells += [v4.new_code_cell(source) for source in sources]
    figure = v4.new_code_cell("print('a figure')")
    figure.outputs = [
        v4.new_output("display_data", data={"image/png": base64.b64encode(os.urandom(7_500_000)).decode()})
    ]
    cells.append(figure)
    nb = v4.new_notebook()
    nb.cells = cells
    path.write_text(nbformat.writes(nb))
    return path


def notebook_run(submission: Path, repeat: int, tmp: Path, sandbox: str | None) -> dict[str, list[float]]:
    """Cold runs of the submission's modules and of the same code as one notebook, alternately:
    wall and CPU time of each."""
    notebook = notebook_of(submission, tmp / "work.ipynb")
    out: dict[str, list[float]] = {"modules": [], "notebook": [], "modules_cpu": [], "notebook_cpu": []}
    for _ in range(repeat):
        for key, path, copy in (("modules", submission, True), ("notebook", notebook, False)):
            wall, cpu, _, _ = cold_run(path, 1, tmp, sandbox, copy=copy)
            out[key] += wall
            out[f"{key}_cpu"] += cpu
    return out


MLP_CELL = """import torch
from torch import nn
from torch.nn import functional as F


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(20, 256)
        self.out = nn.Linear(256, 10)

    def forward(self, X):
        return self.out(F.relu(self.hidden(X)))


def mlp():
    return MLP()
"""


def kernel_run(submission: Path, repeat: int, tmp: Path) -> dict[str, list[float]] | None:
    """``%grade`` in fresh python3 kernels (None where jupyter_client or ipykernel is missing):
    wall time of each execute request, from sending it to the kernel's reply."""
    try:
        from jupyter_client.manager import start_new_kernel
    except ImportError:
        return None
    chapter = [cell for cells in code_cells_of(submission).values() for cell in cells]
    out: dict[str, list[float]] = {"first": [], "first_after_15s": [], "repeated": [], "chapter": []}
    env = {**os.environ, "IPYTHONDIR": str(tmp / "ipython")}
    for _ in range(repeat):
        for first in ("first", "first_after_15s"):
            km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp), env=env)
            try:
                _in_kernel(kc, MLP_CELL)
                if first == "first":
                    out[first].append(_in_kernel(kc, "%load_ext grader\n%grade mlp", full_marks=True))
                    out["repeated"] += [_in_kernel(kc, "%grade mlp", full_marks=True) for _ in range(5)]
                    for cell in chapter:
                        _in_kernel(kc, cell)
                    out["chapter"] += [_in_kernel(kc, "%grade", full_marks=True) for _ in range(2)]
                else:
                    _in_kernel(kc, "%load_ext grader")
                    time.sleep(15)
                    out[first].append(_in_kernel(kc, "%grade mlp", full_marks=True))
            finally:
                kc.stop_channels()
                km.shutdown_kernel(now=False)
    return out


def _in_kernel(kc, code: str, full_marks: bool = False) -> float:
    """Run ``code`` in the kernel of client ``kc``; its wall time. Stops the benchmark if it fails
    (or, with ``full_marks``, if what it shows is not a full score)."""
    shown: list[str] = []

    def hook(msg: dict) -> None:
        content = msg["content"]
        shown.append(content.get("text") or content.get("data", {}).get("text/plain", ""))
        shown.append(content.get("evalue", ""))

    start = time.perf_counter()
    reply = kc.execute_interactive(code, timeout=600, output_hook=hook)
    took = time.perf_counter() - start
    if reply["content"]["status"] != "ok" or (full_marks and "(100.0%)" not in "".join(shown)):
        sys.exit(f"`{code[:40]}` in a kernel failed: {''.join(shown)[-2000:]}")
    return took


def batch_run(submission: Path, n: int, jobs: int, tmp: Path, sandbox: str | None = None) -> dict:
    subs = tmp / f"class-{n}"
    if not subs.exists():
        for i in range(n):
            shutil.copytree(submission, subs / f"s{i:04d}", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp / f"out-{n}-{time.monotonic_ns()}"
    cmd = [*grader_command(), "run", "--each", str(subs), "--jobs", str(jobs), "--seed", "1", "--results-dir", str(out)]
    cmd += ["--sandbox", sandbox] if sandbox else []
    cpu0 = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"}
    )
    sampler = Sampler(proc.pid)
    sampler.start()
    stamps, lines = [], []
    for line in proc.stderr:  # one "[k/N] name: score status" line per finished submission
        lines.append(line)
        if re.match(r"\[\d+/\d+\]", line):
            stamps.append(time.perf_counter() - start)
    proc.wait()
    total = time.perf_counter() - start
    cpu = _children_cpu() - cpu0  # every process of the batch, each waited for by its parent
    memory = sampler.stop()
    if proc.returncode != 0 or len(stamps) != n:
        sys.exit(f"the batch failed (exit {proc.returncode}):\n{''.join(lines)[-3000:]}")
    first_wave = stamps[min(jobs, n) - 1]
    marginal = (stamps[-1] - first_wave) / (n - min(jobs, n)) if n > jobs else float("nan")
    return {
        "n": n,
        "jobs": jobs,
        "total_s": total,
        "cpu_s": cpu,
        "first_wave_s": first_wave,
        "marginal_s": marginal,
        "memory": memory,
    }


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of the bare import and of the cold run (median)")
    ap.add_argument("--jobs", type=int, default=0, help="batch --jobs (default: the CPU cores)")
    ap.add_argument("--batch", type=int, default=0, help="submissions in the batch (default: 5 per job, at least 10)")
    ap.add_argument("--submission", type=Path, default=ROOT / "reference", help="a full correct submission")
    ap.add_argument("--sandbox", default=None, help="force a confinement level (default: the strongest available)")
    ap.add_argument("--json", type=Path, default=None, help="also save every figure here")
    args = ap.parse_args()
    m = machine()
    jobs = args.jobs or m["cores"]
    n = args.batch or max(10, 5 * jobs)
    print(
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}; {m['os']}; Python {m['python']}, torch {m['torch']}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        tmp = Path(tmp)
        if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
            # Some machines (this project's development VM) turn bytecode caching off. A user's
            # Python writes the grader's caches on the first run, as pip writes torch's at install:
            # measure that, after one run that writes them.
            print(
                "PYTHONDONTWRITEBYTECODE is set here: unset for the runs, after one run that writes the caches ...",
                flush=True,
            )
            cold_run(args.submission, 1, tmp, args.sandbox)
        print("bare import torch, then a cold grader run, alternately ...", flush=True)
        colds, cold_cpus, result, imports = cold_run(args.submission, args.repeat, tmp, args.sandbox)
        print("cold runs of the modules and of the same code as a notebook, alternately ...", flush=True)
        nb = notebook_run(args.submission, args.repeat, tmp, args.sandbox)
        print("%grade in fresh kernels: the first, then repeated, each after a bare import ...", flush=True)
        near_kernels = bare_import(args.repeat)
        kernel = kernel_run(args.submission, args.repeat, tmp)
        print(f"batches of {jobs} and {n}, --jobs {jobs}, each after bare imports ...", flush=True)
        near_batches = bare_import(args.repeat)
        small = batch_run(args.submission, jobs, jobs, tmp, args.sandbox)
        near_batches += bare_import(args.repeat)
        batch = batch_run(args.submission, n, jobs, tmp, args.sandbox)
        imports += near_batches
    imp = statistics.median(imports)
    cold = statistics.median(colds)
    cold_ratio = statistics.median(c / i for c, i in zip(colds, imports))  # pairs taken seconds apart
    cold_cpu = statistics.median(cold_cpus)
    slope = (batch["total_s"] - small["total_s"]) / (n - jobs)
    cpu_per_sub = (batch["cpu_s"] - small["cpu_s"]) / (n - jobs)
    ideal = cpu_per_sub / min(jobs, m["cores"])
    checks = sum(len(h["checks"]) for h in result.get("hooks", {}).values() if h["status"] != "skipped")
    figures = {
        "machine": m,
        "import_s": imports,
        "cold_s": colds,
        "cold_cpu_s": cold_cpus,
        "batches": [small, batch],
        "marginal_slope_s": slope,
        "marginal_cpu_s": cpu_per_sub,
        "sandbox": result.get("sandbox", {}).get("level"),
        "score": result.get("score"),
        "checks": checks,
        "cold_ratio": cold_ratio,
        "import_near_batches_s": near_batches,
        "notebook": nb,
        "kernel": kernel,
        "import_near_kernels_s": near_kernels,
    }
    nb_ratio = statistics.median(b / a for a, b in zip(nb["modules"], nb["notebook"]))
    nb_cpu_ratio = statistics.median(b / a for a, b in zip(nb["modules_cpu"], nb["notebook_cpu"]))
    x = lambda t: f"{t / imp:.2f}×"  # noqa: E731
    # Batch ratios over the imports taken just before the two batches, as each cold run's is
    # over the import just before it: the machine's speed drifts over minutes.
    imp_b = statistics.median(near_batches)
    xb = lambda t: f"{t / imp_b:.2f}×"  # noqa: E731
    rows = [
        ('`python -c "import torch"`', f"{imp:.2f} s", "1.00×", "", ""),
        (
            f"cold `grader run {args.submission.name}/` ({checks} checks, {result.get('score', 0):g} points; "
            "ratio: median over runs of cold ÷ the import just before it)",
            f"{cold:.2f} s",
            f"{cold_ratio:.2f}×",
            f"≤ {TARGETS['cold']}×",
            _verdict(cold_ratio <= TARGETS["cold"]),
        ),
        (
            f"cold run: CPU time of all its processes (÷ {m['cores']} cores = {cold_cpu / m['cores']:.2f} s, the floor here)",
            f"{cold_cpu:.2f} s",
            x(cold_cpu / m["cores"]),
            "",
            "",
        ),
        (
            f"cold `grader run work.ipynb`: the same code as one notebook, a 10 MB stored output (median "
            f"over pairs of the notebook ÷ the modules graded just before it: {nb_ratio:.3f}×)",
            f"{statistics.median(nb['notebook']):.2f} s",
            x(statistics.median(nb["notebook"])),
            "",
            "",
        ),
        (
            f"the notebook run's CPU time, all its processes (median over pairs of the notebook ÷ the "
            f"modules, {statistics.median(nb['modules_cpu']):.2f} s: {nb_cpu_ratio:.3f}×)",
            f"{statistics.median(nb['notebook_cpu']):.2f} s",
            x(statistics.median(nb["notebook_cpu"]) / m["cores"]),
            f"≤ {TARGETS['notebook']}× the modules",
            _verdict(nb_cpu_ratio <= TARGETS["notebook"]),
        ),
        (f"batch of {n}, `--jobs {jobs}`: total", f"{batch['total_s']:.2f} s", x(batch["total_s"]), "", ""),
        (f"batch of {jobs} (start-up and one wave)", f"{small['total_s']:.2f} s", x(small["total_s"]), "", ""),
        (
            f"batch: marginal wall time per extra submission ((T{n} − T{jobs}) / {n - jobs}; ratio over the "
            f"imports just before the batches, median {imp_b:.2f} s)",
            f"{slope:.2f} s",
            xb(slope),
            f"≤ {TARGETS['marginal']}×",
            _verdict(slope / imp_b <= TARGETS["marginal"]),
        ),
        (
            "batch: marginal wall time per submission, steady state (between results)",
            f"{batch['marginal_s']:.2f} s",
            xb(batch["marginal_s"]),
            "",
            "",
        ),
        (
            f"batch: marginal CPU time per submission (÷ {min(jobs, m['cores'])} = {ideal:.2f} s on idle cores)",
            f"{cpu_per_sub:.2f} s",
            xb(ideal),
            "",
            "",
        ),
    ]
    if kernel:
        imp_k = statistics.median(near_kernels)
        xk = lambda t: f"{t / imp_k:.2f}×"  # noqa: E731
        first, later, repeated = (statistics.median(kernel[k]) for k in ("first", "first_after_15s", "repeated"))
        worst, chapter = max(kernel["repeated"]), statistics.median(kernel["chapter"])
        rows += [
            (
                f"first `%grade mlp` of a kernel, in the cell that loads the extension (the grading process's "
                f"cold start; ratios over the imports just before the kernels, median {imp_k:.2f} s)",
                f"{first:.2f} s",
                xk(first),
                "",
                "",
            ),
            ("first `%grade mlp` of a kernel, 15 s after `%load_ext grader`", f"{later:.2f} s", xk(later), "", ""),
            (
                f"repeated `%grade mlp` (one exercise, 3 checks): median (the largest of {len(kernel['repeated'])}: "
                f"{worst:.2f} s)",
                f"{repeated:.2f} s",
                xk(repeated),
                f"≤ {TARGETS['kernel_repeat_s']:g} s (the largest)",
                _verdict(worst <= TARGETS["kernel_repeat_s"]),
            ),
            (
                f"repeated `%grade` of the whole submission's code run in the kernel ({checks} checks)",
                f"{chapter:.2f} s",
                xk(chapter),
                "",
                "",
            ),
        ]
    for kind in ("coordinator", "grading process", "worker template", "worker", "sandbox"):
        if kind in batch["memory"]:
            mem = batch["memory"][kind]
            target = f"≤ {TARGETS['worker_rss_mb']} MB" if kind == "worker" else ""
            verdict = _verdict(mem["peak_rss_mb"] <= TARGETS["worker_rss_mb"]) if kind == "worker" else ""
            rows.append(
                (f"peak RSS, {kind} ({mem['processes']} seen)", f"{mem['peak_rss_mb']:.0f} MB", "", target, verdict)
            )
    print()
    print(
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']} RAM, {m['os']}, Python {m['python']}, torch {m['torch']}; "
        f"sandbox level `{figures['sandbox']}`; medians of {args.repeat} cold runs and {len(imports)} imports."
    )
    print()
    print("| measurement | value | × import torch | target | |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    print(
        "runs (s): import " + ", ".join(f"{t:.2f}" for t in imports) + "; cold " + ", ".join(f"{t:.2f}" for t in colds)
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


if __name__ == "__main__":
    main()
