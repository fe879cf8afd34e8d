"""`run --isolate`: the command starts without credentials in its environment and without network.

Loading a model deserialises bytes someone else wrote; where that goes wrong, the process should
hold nothing worth stealing and have nowhere to send it (the seed's advice).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Collection, Mapping

SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW(OR)?D|CREDENTIAL|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|AUTH|SESSION")
"""A variable whose name says it holds a secret, whatever the tool (GITHUB_TOKEN, OPENAI_API_KEY, ...)."""
SECRET_PREFIXES = ("AWS_", "AZURE_", "GOOGLE_", "GCLOUD_", "CLOUDSDK_", "DOCKER_", "MODELLOCK_REGISTRY", "VAULT_")
"""Cloud and registry tools whose variables point at or hold credentials (AWS_PROFILE, DOCKER_CONFIG, ...)."""
SECRET_NAMES = frozenset({"KUBECONFIG", "NETRC", "SSH_AUTH_SOCK", "GIT_ASKPASS", "SSH_ASKPASS", "HF_TOKEN_PATH"})

# Files the usual clients read credentials from when no variable names one: pointed at nothing.
EMPTY_FILES = {
    "HF_TOKEN_PATH": "/dev/null",  # huggingface_hub's stored token (`hf auth login`)
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_CONFIG_FILE": "/dev/null",
    "NETRC": "/dev/null",  # httpx and requests read ~/.netrc for any host
    "KUBECONFIG": "/dev/null",
    "DOCKER_CONFIG": "/nonexistent-modellock-isolate",
    "CLOUDSDK_CONFIG": "/nonexistent-modellock-isolate",
}


def is_secret(name: str) -> bool:
    upper = name.upper()
    return bool(SECRET_NAME.search(upper)) or upper.startswith(SECRET_PREFIXES) or upper in SECRET_NAMES


def isolated_environment(env: Mapping[str, str], allow: Collection[str] = ()) -> tuple[dict[str, str], list[str]]:
    """`env` without credentials (names in `allow` kept), and the names removed, sorted."""
    kept = {k: v for k, v in env.items() if k in allow or not is_secret(k)}
    removed = sorted(set(env) - set(kept))
    for name, value in EMPTY_FILES.items():
        if name not in allow:
            kept[name] = value
    return kept, removed


def network_isolation() -> list[str] | None:
    """The prefix that starts a command in a new network namespace with no interface up, or None.

    `unshare -n` needs CAP_SYS_ADMIN (root, a privileged container); `unshare -rn` works unprivileged
    where user namespaces are allowed. unshare execs the command: it keeps our child's pid, so signals
    still reach it.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    for flags in (["-n"], ["-r", "-n"]):
        try:
            probe = subprocess.run([unshare, *flags, "true"], capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return [unshare, *flags, "--"]
    return None
