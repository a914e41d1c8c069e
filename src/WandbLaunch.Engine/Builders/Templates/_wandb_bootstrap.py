"""Installs a W&B job's requirements.frozen.txt inside an image build (WandbLaunch's own version).

Behaves as W&B's launch bootstrap does, as seen from outside: every frozen requirement is installed with
`uv pip install --no-deps` in one go; when that fails, the failing requirements are found and the rest installed, and
their names are written to stderr as "ERROR: Failed to install: <a>,<b>. During automated build process." (the agent
turns that line into a build warning) and to _wandb_bootstrap_errors.json. torch, torchvision and torchaudio pinned
to a CUDA or CPU build (torch==2.1.0+cu118) are installed last from download.pytorch.org/whl/<variant>.
WANDB_DISABLE_CACHE adds --no-cache-dir; WANDB_ONLY_INCLUDE (comma-separated names) limits what is installed.

The failing requirements are found by halving the set that failed, not by reading pip's messages, whose wording
changes between pip and uv versions.
"""
import json
import os
import re
import subprocess
import sys

FROZEN = "requirements.frozen.txt"
FAILED_PREFIX = "ERROR: Failed to install: "
FAILED_SUFFIX = ". During automated build process."
TORCH_BUILD = re.compile(r"^torch(?:vision|audio)?==\d+\.\d+\.\d+\+(cu\d{2,3}|cpu)$")


def wanted(requirement, only):
    name = re.split(r"[=<>!~\[; @]", requirement, maxsplit=1)[0].lower()
    return not only or requirement in only or name in only


def uv_install(requirements, options, index=None):
    """True when uv installed every requirement."""
    if not requirements:
        return True
    command = ["uv", "pip", "install", *options, *requirements]
    if index:
        command += ["--extra-index-url", index]
    print("installing " + ", ".join(requirements) + "...", flush=True)
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        print(done.stdout, flush=True)
    return done.returncode == 0


def failing(requirements, options):
    """The requirements that will not install, found by installing halves of a set that failed."""
    if uv_install(requirements, options):
        return []
    if len(requirements) == 1:
        return list(requirements)
    middle = len(requirements) // 2
    return failing(requirements[:middle], options) + failing(requirements[middle:], options)


def main():
    if not os.path.exists(FROZEN):
        print("No frozen requirements found")
        return
    only = {x for x in os.environ.get("WANDB_ONLY_INCLUDE", "").split(",") if x}
    options = ["--no-deps"] if not only else ["--force-reinstall"]
    if os.environ.get("WANDB_DISABLE_CACHE"):
        options.append("--no-cache-dir")
    plain, torch, variant = [], [], None
    with open(FROZEN, encoding="utf-8") as lines:
        for line in lines:
            requirement = line.strip().replace(" ", "")
            if not requirement or requirement.startswith("#"):
                continue
            if not wanted(requirement, only):
                print(f"Ignoring requirement: {requirement} from frozen requirements")
                continue
            if requirement.startswith("wandb==") and "dev" in requirement:
                requirement = "wandb"  # a development build is not on PyPI
            match = TORCH_BUILD.match(requirement)
            if match:
                torch.append(requirement)
                variant = match.group(1)
            else:
                plain.append(requirement)
    print("Installing frozen dependencies...", flush=True)
    subprocess.run(["pip", "install", "uv"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    failed = [] if uv_install(plain, options) else failing(plain, options)
    with open("_wandb_bootstrap_errors.json", "w", encoding="utf-8") as errors:
        json.dump({"pip": failed}, errors)
    if failed:
        sys.stderr.write(FAILED_PREFIX + ",".join(failed) + FAILED_SUFFIX)
        sys.stderr.flush()
    if torch:
        uv_install(torch, [], f"https://download.pytorch.org/whl/{variant}")


if __name__ == "__main__":
    main()
