"""Which refused imports are known code-execution, import or system primitives: graded `malicious`.

Grading never allows anything (only the exact pairs in `allowlist` do). It decides whether a refusal
can be waved through by `pickle = "allow"` (suspicious: the user trusts the imports) or never
(malicious). So these tables err on the side of malicious: every technique in
tests/data/bypasses.py, and the modules picklescan and fickling list after their 2025-2026
advisories, must land here. A name that is not here is only suspicious, and `pickle = "scan"`
still refuses it.

The rules are applied to the path find_class really resolves (`module` + dotted `name`), so a name
reached through another module (`pathlib` + `os.system`) is graded by where it leads.
"""

from __future__ import annotations


def _words(*lines: str) -> frozenset[str]:
    return frozenset(" ".join(lines).split())


# Top-level modules whose every import is graded malicious (and their sub-modules).
MODULES = _words(
    "os posix nt subprocess _posixsubprocess _bootsubprocess sys pty commands popen2 pexpect pipes importlib _imp",
    "imp _frozen_importlib _frozen_importlib_external zipimport pkgutil runpy site builtins __builtin__",
    "__builtins__ _sitebuiltins code codeop marshal types inspect gc warnings pickle _pickle copyreg shelve dbm",
    "dill cloudpickle ctypes _ctypes cffi _cffi_backend _xxsubinterpreters _interpreters _xxinterpchannels",
    "_interpchannels _interpqueues concurrent multiprocessing _multiprocessing _posixshmem threading _thread signal",
    "_signal atexit operator _operator functools _functools webbrowser mailcap idlelib",
    "turtle tkinter _tkinter rlcompleter cgitb pdb bdb timeit profile cProfile trace doctest unittest pydoc",
    "tabnanny ensurepip pip venv distutils setuptools lib2to3 test compileall py_compile zipapp asyncio socket",
    "_socket ssl _ssl select selectors socketserver xmlrpc http httplib urllib urllib2 requests aiohttp ftplib",
    "smtplib imaplib poplib nntplib telnetlib io _io codecs tempfile shutil glob fileinput linecache filecmp mmap",
    "gzip bz2 lzma zipfile tarfile sqlite3 _sqlite3 logging syslog platform _osx_support _aix_support _pyrepl",
    "_winapi msvcrt winreg _winreg IPython",
)

# Dotted prefixes (a module and its sub-modules) of libraries that are otherwise graded by name.
PREFIXES: tuple[str, ...] = (
    *("numpy.f2py", "numpy.testing", "numpy.distutils", "numpy.ctypeslib", "numpy.lib.format"),
    *("numpy.lib._format_impl", "numpy.lib.npyio", "numpy.lib._npyio_impl"),
    *("torch.jit", "torch.hub", "torch._dynamo", "torch._inductor", "torch.utils.collect_env", "torch.fx"),
    *("torch._export", "torch.package", "torch.serialization", "torch.utils.cpp_extension"),
    *("torch.utils._config_module", "torch.utils.bottleneck", "torch.utils.data.datapipes"),
    *("torch.distributed", "torch.multiprocessing", "torch.ops", "torch.classes", "torch.library"),
    *("transformers.dynamic_module_utils", "huggingface_hub", "pandas.io.pickle", "pandas.io.clipboard"),
)

# Exact pairs in modules that also hold harmless names.
PAIRS = frozenset(
    {
        ("numpy", "load"),
        ("torch", "load"),
        ("torch.storage", "_load_from_bytes"),
        ("joblib", "load"),
        ("joblib.numpy_pickle", "load"),
        ("pandas", "read_pickle"),
        ("uuid", "_get_command_stdout"),
    }
)

# Attribute names that run code, import, load nested pickles or touch the system, in any module.
ATTRS = _words(
    "eval exec execfile compile open input breakpoint apply interact system popen popen2 popen3 popen4 spawn spawnl",
    "spawnle spawnlp spawnv spawnve spawnvp posix_spawn posix_spawnp execl execle execlp execlpe execv execve",
    "execvp execvpe fork forkpty startfile kill killpg Popen getoutput getstatusoutput check_output check_call",
    "run_string runcode runsource runctx run_path run_module _run_code _run_module_code import_module __import__",
    "reload resolve_name locate findmatch _run_pip find_spec module_from_spec exec_module spec_from_file_location",
    "spec_from_loader load_module load_source load_dynamic load_library LoadLibrary CDLL PyDLL dlopen getattr",
    "setattr delattr globals locals vars attrgetter methodcaller itemgetter __builtins__ __globals__ __subclasses__",
    "__class__ __dict__ __code__ __reduce__ __reduce_ex__ __getattribute__ __getattr__ __setattr__",
    "__init_subclass__ __bases__ __mro__ __base__ __self__ __func__ __closure__ __loader__ __spec__ f_globals",
    "f_locals f_builtins gi_frame tb_frame load loads _load _loads load_state_dict_from_url download_url_to_file",
    "read_pickle read_array Unpickler _Unpickler find_class FileIO write_file write_text write_bytes unlink remove",
    "rmtree rmdir rename symlink_to hardlink_to chmod chown urlopen urlretrieve IMAP4_stream pipepager",
    "tempfilepager getlincoef _eval_length runstring _read_output _read_cmd_output _find_build_tool get_entity",
    "fetch_completions get_class_from_dynamic_module",
)


# Modules whose import alone runs something (opens a browser, starts IDLE): graded even where
# find_class fails on the name after importing them. Any `pkg.__main__` module runs its program.
IMPORT_RUNS = ("antigravity", "this", "turtledemo", "idlelib.idle")


def import_runs_code(module: str) -> bool:
    parts = module.split(".")
    return any(module == m or module.startswith(m + ".") for m in IMPORT_RUNS) or "__main__" in parts[1:]


def danger(module: str, name: str) -> str | None:
    """Why importing `name` from `module` is a known primitive, or None if it is not known to be."""
    parts = f"{module}.{name}".split(".")
    root = parts[0]
    if root in MODULES:
        return f"{root} is a code-execution, import or system module"
    if import_runs_code(module):
        return f"importing {module} runs a program"
    path = ".".join(parts)
    for cut in range(1, len(parts)):
        if (".".join(parts[:cut]), ".".join(parts[cut:])) in PAIRS:
            return "a known code-execution or nested-load primitive"
    if any(path == p or path.startswith(p + ".") for p in PREFIXES):
        return "a known code-execution or nested-load primitive"
    attr = next((p for p in name.split(".") if p in ATTRS or p in MODULES), None)
    if attr is not None:
        return f"{attr!r} names a code-execution, import or system primitive"
    if "." in name and any(_reaches_beyond_a_class(p) for p in name.split(".")[:-1]):
        # Python writes nested classes as `Outer.Inner`; a lower-case step is a module or function
        # reached by attribute access (`pathlib` + `_os.getcwd`), never a class's qualname.
        return "a dotted name that reaches a module or function by attribute access"
    return None


def _reaches_beyond_a_class(step: str) -> bool:
    return not step.lstrip("_")[:1].isupper()
