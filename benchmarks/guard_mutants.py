"""`python -m benchmarks.guard_mutants [NAME ...]`: delete each guarded check and see its test fail.

Each mutant below removes or weakens one check that mutation testing once found unguarded (issue 21);
the named test file must fail with the mutant in place. Every source file is restored afterwards,
whatever happens. Prints one line per mutant; exits 1 if any survives. Needs the test extra.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIGNING, LOCK, STORE = "tests/test_guards_signing.py", "tests/test_guards_lock.py", "tests/test_guards_store.py"
CLEAN = "tests/test_clean_errors.py"

# (name, file, text, replacement, test file)
MUTANTS: list[tuple[str, str, str, str, str]] = [
    ("key-mode ECDSA", "signing/bundle.py",
     "    _ec_verify(key, signature, _pae(payload_type, payload), where)\n", "", SIGNING),
    ("certificate-mode ECDSA", "signing/bundle.py",
     "    _ec_verify(leaf.public_key(), signature, _pae(payload_type, payload), where)\n", "", SIGNING),
    ("one identity per certificate", "signing/bundle.py",
     "    if len(recorder.identities) != 1:", "    if False:", SIGNING),
    ("OMS subject digest", "signing/oms.py", "    if expected != concatenated.hexdigest():", "    if False:", SIGNING),
    ("repository file not signed", "signing/oms.py",
     '            problems.append(f"{path} is in the repository but not covered by the signature")', "            pass",
     SIGNING),
    ("ignore_paths by component", "signing/oms.py", 'path.startswith(p + "/")', "path.startswith(p)", SIGNING),
    ("locked root at sync", "ops/signatures.py",
     '    if signature.mode == "certificate" and attestation.key != signature.key:', "    if False:", SIGNING),
    ("manifest vs lock: mode", "ops/check.py", "        if config.mode != signature.mode:", "        if False:", LOCK),
    ("manifest vs lock: public key", "ops/check.py",
     "        elif config.public_key is not None and signature.public_key != _manifest_key(project_dir, "
     "config.public_key):", "        elif False:", LOCK),
    ("version 1 never sealed", "project/lockfile.py", "        if m.seal != computed or lock.version < 2:",
     "        if m.seal != computed:", LOCK),
    ("overlapping paths at lock --check", "ops/check.py",
     '        problems.append(Problem(clash[0], f"cannot be installed: {clash[1]}"))', "        pass", LOCK),
    ("signature path in the lock", "project/lockread.py",
     'or unsafe_reason(raw["path"]):', ":", LOCK),
    ("a file listed twice", "project/lockread.py", "        if len({f.path for f in files}) != len(files):",
     "        if False:", LOCK),
    ("`..` in a ref", "project/paths.py", '    if ".." in ref or "@{" in ref', '    if "@{" in ref', LOCK),
    ("download size", "ops/fetch.py", "    if digest.size != file.size:", "    if False:", STORE),
    ("reuse: LFS SHA-256", "ops/lock.py", "        return sha256 == file.lfs_sha256", "        return True", STORE),
    ("reuse: old entry vouched", "ops/lock.py",
     "                and _vouched(store, file, locked.blake3, locked.sha256)", "                and True", STORE),
    ("reuse: index entry vouched", "ops/lock.py",
     "    if hit is None or not _vouched(store, file, hit.blake3, hit.sha256):", "    if hit is None:", STORE),
    ("a symlink is no blob", "store/blobs.py", "        return st if stat.S_ISREG(st.st_mode) else None",
     "        return st", STORE),
    ("layout manifest digest", "sources/oci.py", '        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:',
     "        if False:", STORE),
    ("pushed manifest digest", "oci/client.py",
     "        if said is not None and said != ours:", "        if False:", STORE),
    ("a lone surrogate in a path", "project/paths.py", "    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in path):",
     "    if False:", CLEAN),
    ("hub errors blamed only on the hub", "sources/huggingface.py",
     "        if not _raised_in_huggingface_hub(exc):\n            raise", "        raise", CLEAN),
]  # fmt: skip


def run(name: str, file: str, text: str, replacement: str, tests: str) -> bool:
    """True if the mutant was killed (the tests failed with it in place)."""
    path = ROOT / "modellock" / file
    original = path.read_text()
    if original.count(text) != 1:
        print(f"{name}: the check is no longer where this script looks ({file}); update MUTANTS")
        return False
    try:
        path.write_text(original.replace(text, replacement))
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", tests],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
    finally:
        path.write_text(original)
    killed = done.returncode != 0
    failed = next((line for line in done.stdout.splitlines() if line.startswith("FAILED")), "")
    print(f"{'killed  ' if killed else 'SURVIVED'} {name}: {failed[7:120] if killed else tests}")
    return killed


def main() -> int:
    wanted = set(sys.argv[1:])
    chosen = [m for m in MUTANTS if not wanted or m[0] in wanted]
    survived = [m[0] for m in chosen if not run(*m)]
    print(f"{len(chosen) - len(survived)}/{len(chosen)} mutants killed")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
