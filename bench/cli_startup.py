"""What the command line costs to start, and what validating a folder costs (issue 18).

    .venv/bin/python bench/cli_startup.py [--repeats 7] [--files 1000] [--jobs 2]
        [--batch-repeats 3]

Everything is measured in this one run, from this interpreter (``sys.executable``), on files it
generates in a temporary folder (a demo PKI, trusted through ``GATEWAY_PKI_DIR``):

1. Start-up. Medians of ``--repeats`` whole-process runs, taking turns so that load on the
   machine falls on all alike, each printed as a ratio to ``python -c "pass"``:
   ``gateway --help``, ``gateway validate --help`` and ``gateway validate`` of one 10 KB CAdES
   file. Targets: --help <= 8x, one small file <= 15x.
2. A folder of ``--files`` small files: CAdES enveloping and detached (``doc.txt`` +
   ``doc.txt.p7s``), XAdES enveloped, PAdES, and broken ones (tampered, random bytes, plain
   text, a dangling link). The sum of the per-file validation times, each measured in this
   process with the validator already built, is compared with the wall time of the whole
   process ``gateway validate -j N --format jsonl FOLDER``: target ``wall <= 1.3 x sum / N``.
   The per-file times are taken in a warmed interpreter (every file validated once before,
   untimed: no engine import or cold cache is counted as validation work).
   The process's start-up is included in its wall time; the figure without it (wall minus the
   median start-up of step 1's one-file run) is printed alongside, and so are the CPU times
   (per-file sum against the process and its workers) and the load average: on a loaded machine
   the wall-clock ratio says more about the neighbours than about the command. From the CPU
   times it also prints an estimate of the wall time with free cores: the one-file run's CPU
   (the start-up, which nothing runs beside) plus the rest of the folder run's CPU divided by N.

The commands run with a bytecode cache in the temporary folder (``PYTHONPYCACHEPREFIX``; also
when the environment says ``PYTHONDONTWRITEBYTECODE``), written by one untimed run of each
command first: an installed gateway has its bytecode, and compiling every module from source on
each run is not what a user waits for.

The machine has two cores shared with other work: read the ratios, not the seconds, and run it
twice before believing a difference. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="whole-process runs per command")
    parser.add_argument("--files", type=int, default=1000, help="files in the folder")
    parser.add_argument("--jobs", type=int, default=2, help="-j of the folder run")
    parser.add_argument("--batch-repeats", type=int, default=3, help="folder runs")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="cli-startup-") as scratch:
        root = Path(scratch)
        print(f"generating a demo PKI and {args.files} files ...", flush=True)
        one_file, folder = make_files(root, args.files)
        env = {**os.environ, "PYTHONPATH": str(REPOSITORY), "GATEWAY_PKI_DIR": str(root / "pki"),
               "GATEWAY_DATA_DIR": str(root / "var"),
               # Bytecode, as an installed package has it (pip compiles on install): without
               # it every gateway module is compiled from source on each run, ~70 ms of the
               # one-file run's ~200 ms CPU, and again in each worker for its engine's modules.
               "PYTHONPYCACHEPREFIX": str(root / "pycache")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        gateway = [sys.executable, "-m", "gateway.cli"]
        commands = {
            'python -c "pass"': [sys.executable, "-c", "pass"],
            "gateway --help": [*gateway, "--help"],
            "gateway validate --help": [*gateway, "validate", "--help"],
            f"gateway validate ({one_file.stat().st_size // 1024} KB CAdES)":
                [*gateway, "validate", str(one_file)],
        }
        for command in commands.values():  # untimed: writes the bytecode, fills the page cache
            run(command, env, expect=(0,))
        timings: dict[str, list[float]] = {name: [] for name in commands}
        cpu_times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                elapsed, cpu = run(command, env, expect=(0,))
                timings[name].append(elapsed)
                cpu_times[name].append(cpu)
        medians = {name: statistics.median(values) for name, values in timings.items()}
        base = medians['python -c "pass"']
        targets = {"gateway --help": 8.0, "gateway validate --help": 8.0}
        print(f"\nstart-up, median of {args.repeats} whole-process runs:")
        met = True
        for name, median in medians.items():
            target = targets.get(name, 15.0 if name.startswith("gateway validate (") else None)
            met = met and (target is None or median / base <= target)
            verdict = "" if target is None else (
                f"  target <= {target:.0f}x: {'ok' if median / base <= target else 'MISSED'}")
            print(f"  {name:<34} {median * 1000:8.1f} ms  {median / base:6.1f}x{verdict}")

        one_file = list(commands)[-1]
        met = batch(folder, env, args.jobs, args.batch_repeats, startup=medians[one_file],
                    startup_cpu=statistics.median(cpu_times[one_file]), gateway=gateway) and met
    return 0 if met else 1


def batch(folder: Path, env: dict[str, str], jobs: int, repeats: int, *, startup: float,
          startup_cpu: float, gateway: list[str]) -> bool:
    """Prints the folder run against the per-file sum; True when the target is met."""
    from gateway import validation_run
    from gateway.bootstrap import build
    from gateway.config import Settings

    settings = Settings.from_env(env)  # the settings the command reads, from the same env
    validation_run.prepare(build(settings).signature_validation(), None)
    tasks = validation_run.collect([folder])
    for task in tasks:  # warm: every format's engine imported, caches filled, before timing
        validation_run.validate_task(task)
    folder_run = [*gateway, "validate", "-j", str(jobs), "--format", "jsonl", str(folder)]
    run(folder_run, env, expect=(3,))  # untimed, as the per-file warm-up: the engines' bytecode
    sums, cpu_sums, walls, cpus = [], [], [], []
    for _ in range(repeats):  # alternate, so both see the same load
        wall_sum = cpu_sum = 0.0
        for task in tasks:
            started, started_cpu = time.perf_counter(), time.process_time()
            validation_run.validate_task(task)
            wall_sum += time.perf_counter() - started
            cpu_sum += time.process_time() - started_cpu
        sums.append(wall_sum)
        cpu_sums.append(cpu_sum)
        elapsed, cpu = run(folder_run, env, expect=(3,))
        walls.append(elapsed)
        cpus.append(cpu)
    per_file, whole = statistics.median(sums), statistics.median(walls)
    per_file_cpu, whole_cpu = statistics.median(cpu_sums), statistics.median(cpus)
    ideal = per_file / jobs
    print(f"\nfolder of {len(tasks)} reports ({len(list(folder.iterdir()))} files), "
          f"-j {jobs}, median of {repeats}:")
    print(f"  sum of per-file in-process validation  {per_file:7.2f} s "
          f"({per_file / len(tasks) * 1000:.1f} ms/file); / {jobs} = {ideal:.2f} s")
    verdict = "ok" if whole <= 1.3 * ideal else "MISSED"
    print(f"  gateway validate -j {jobs} (whole process)  {whole:7.2f} s  "
          f"= {whole / ideal:.2f}x sum/{jobs}  target <= 1.3x: {verdict}")
    print(f"  the same without one start-up ({startup:.2f} s)  {whole - startup:7.2f} s  "
          f"= {(whole - startup) / ideal:.2f}x sum/{jobs}")
    # Wall time only shrinks by N when N cores are free: CPU time says whether the work grew.
    print(f"  CPU: per-file sum {per_file_cpu:.2f} s, whole process with its workers "
          f"{whole_cpu:.2f} s = {whole_cpu / per_file_cpu:.2f}x; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    # What the wall time would be with the cores free: the start-up (CPU of the one-file run)
    # runs alone, the rest of the CPU is shared by the workers. An estimate, not a measurement.
    idle = startup_cpu + (whole_cpu - startup_cpu) / jobs
    print(f"  estimate for free cores from CPU times: start-up {startup_cpu:.2f} s + "
          f"rest / {jobs} = {idle:.2f} s = {idle / (per_file_cpu / jobs):.2f}x "
          f"(per-file CPU sum)/{jobs}")
    return whole <= 1.3 * ideal


def run(command: list[str], env: dict[str, str], *,
        expect: tuple[int, ...]) -> tuple[float, float]:
    """The wall time of ``command``, and the CPU time of it and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode not in expect:
        raise SystemExit(f"{' '.join(command)}: exit {completed.returncode}\n"
                         f"{completed.stderr.decode(errors='replace')}")
    return elapsed, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def make_files(root: Path, count: int) -> tuple[Path, Path]:
    """A 10 KB CAdES file, and a folder of ``count`` small files of every kind."""
    from reportlab.pdfgen import canvas

    from gateway.domain.clock import FixedClock
    from gateway.pki import generate_demo_pki
    from gateway.signatures import sign_cades, sign_pades, sign_xades_enveloped

    now = datetime.now(UTC)
    pki = generate_demo_pki(root / "pki", now=now - timedelta(hours=1))
    credential = pki.client("person")
    key, cert = credential.private_key(), credential.certificate()
    clock = FixedClock(now - timedelta(minutes=5))

    one_file = root / "ack.p7m"
    one_file.write_bytes(sign_cades(b"a" * 8 * 1024, key, cert, detached=False, clock=clock))

    page = BytesIO()
    drawing = canvas.Canvas(page)
    drawing.drawString(72, 720, "Acuse de recibo")
    drawing.save()
    tampered = bytearray(sign_cades(b"acuse de recibo", key, cert, detached=False, clock=clock))
    tampered[tampered.find(b"acuse")] ^= 0x01
    detached_content = b"contrato " * 100
    kinds: list[tuple[str, bytes | None]] = [
        (".p7m", sign_cades(b"b" * 2048, key, cert, detached=False, clock=clock)),
        (".p7m", sign_cades(b"c" * 512, key, cert, detached=False, clock=clock)),
        (".txt.p7s", sign_cades(detached_content, key, cert, detached=True, clock=clock)),
        (".xml", sign_xades_enveloped(b"<acuse><n>1</n><t>" + b"x" * 1024 + b"</t></acuse>",
                                      key, cert, clock=clock)),
        (".xml", sign_xades_enveloped(b"<acuse><n>2</n></acuse>", key, cert, clock=clock)),
        (".pdf", sign_pades(page.getvalue(), key, cert, clock=clock)),
        (".p7m", bytes(tampered)),
        (".bin", os.urandom(2048)),
        (".txt", b"not a signature\n" * 20),
        (".p7m", None),  # a dangling link: cannot be read
    ]
    folder = root / "folder"
    folder.mkdir()
    made = 0
    while made < count:
        suffix, content = kinds[made % len(kinds)]
        path = folder / f"doc{made:05}{suffix}"
        if content is None:
            path.symlink_to(folder / "gone")
        else:
            path.write_bytes(content)
        if suffix == ".txt.p7s":  # its content, paired by name: one report for the two files
            path.with_suffix("").write_bytes(detached_content)
        made += 1
    return one_file, folder


if __name__ == "__main__":
    sys.exit(main())
