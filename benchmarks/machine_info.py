"""What a benchmark ran on, recorded beside its numbers.

As a script it prints the machine as JSON (``benchmarks/gpu.sh`` writes it to
``machine.json``)::

    python benchmarks/machine_info.py --device cuda
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine(device: torch.device) -> dict[str, str | int]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    return {
        "device": device.type,
        "device_name": name,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cores": cores(),
        "python": platform.python_version(),
    }


def cuda_details(device: torch.device) -> dict[str, str | int | float]:
    """The GPU beyond its name: CUDA and cuDNN versions, memory, compute capability, count."""
    properties = torch.cuda.get_device_properties(device)
    return {
        "cuda": str(torch.version.cuda),
        "cudnn": str(torch.backends.cudnn.version()),
        "gpus": torch.cuda.device_count(),
        "gpu_memory_gib": round(properties.total_memory / 2**30, 1),
        "compute_capability": f"{properties.major}.{properties.minor}",
    }


def main() -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(description="print the machine as JSON")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    args = parser.parse_args()
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if cuda and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda, but torch sees no CUDA device")
    device = torch.device("cuda" if cuda else "cpu")
    info: dict[str, object] = {
        **machine(device),
        "cpu": cpu_model(),
        "platform": platform.platform(),
    }
    if cuda:
        info.update(cuda_details(device))
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
