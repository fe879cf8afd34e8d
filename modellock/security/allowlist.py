"""What a pickle may import: exactly what real checkpoints need, nothing that runs code.

Anything not listed is refused. The denylist below never allows anything; it only grades a
refusal as `malicious` (known code-execution primitives) rather than `suspicious` (unknown).
"""

from __future__ import annotations

import re

_TORCH_STORAGES = [
    f"{prefix}{kind}{suffix}"
    for prefix in ("torch.", "torch.cuda.")
    for kind in (
        "BFloat16",
        "Bool",
        "Byte",
        "Char",
        "ComplexDouble",
        "ComplexFloat",
        "Double",
        "Float",
        "Half",
        "Int",
        "Long",
        "Short",
    )
    for suffix in ("Storage", "Tensor")
]
_TORCH_DTYPES = (
    [
        "torch." + name
        for name in [
            "bfloat16",
            "bool",
            "complex128",
            "complex32",
            "complex64",
            "float16",
            "float32",
            "float64",
            "float4_e2m1fn_x2",
            "float8_e4m3fn",
            "float8_e4m3fnuz",
            "float8_e5m2",
            "float8_e5m2fnuz",
            "float8_e8m0fnu",
            "int8",
            "int16",
            "int32",
            "int64",
            "uint8",
            "uint16",
            "uint32",
            "uint64",
            "qint32",
            "qint8",
            "quint2x4",
            "quint4x2",
            "quint8",
            "bits16",
            "bits1x8",
            "bits2x4",
            "bits4x2",
            "bits8",
            "half",
            "float",
            "double",
            "long",
            "int",
            "short",
            "cfloat",
            "cdouble",
        ]
    ]
    + [f"torch.int{i}" for i in range(1, 8)]
    + [f"torch.uint{i}" for i in range(1, 8)]
)

# torch's `weights_only` unpickler (torch 2.13 `_get_allowed_globals`), plus the numpy, python and
# Hugging Face training-metadata constructors that `rng_state.pth` and `training_args.bin` need.
ALLOWED: frozenset[str] = frozenset(
    [
        "_codecs.encode",
        "builtins.bytearray",
        "builtins.complex",
        "builtins.set",
        "builtins.frozenset",
        "builtins.slice",
        "builtins.range",
        "builtins.object",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "builtins.str",
        "builtins.bytes",
        "builtins.tuple",
        "builtins.list",
        "builtins.dict",
        "collections.Counter",
        "collections.OrderedDict",
        "collections.defaultdict",
        "argparse.Namespace",
        "typing.Any",
        "torch.torch_version.TorchVersion",
        "pytorch_lightning.utilities.parsing.AttributeDict",
        "lightning_fabric.utilities.data.AttributeDict",
        "lightning.fabric.utilities.data.AttributeDict",
        "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint",
        "omegaconf.dictconfig.DictConfig",
        "omegaconf.listconfig.ListConfig",
        "omegaconf.base.ContainerMetadata",
        "omegaconf.base.Metadata",
        "omegaconf.nodes.AnyNode",
        "omegaconf.nodes.StringNode",
        "omegaconf.nodes.IntegerNode",
        "omegaconf.nodes.FloatNode",
        "omegaconf.nodes.BooleanNode",
        "copyreg._reconstructor",
        "datetime.datetime",
        "datetime.date",
        "datetime.timedelta",
        "datetime.timezone",
        "decimal.Decimal",
        "fractions.Fraction",
        "pathlib.PosixPath",
        "pathlib.WindowsPath",
        "pathlib.PurePosixPath",
        "uuid.UUID",
        "torch.Size",
        "torch.QInt32Storage",
        "torch.QInt8Storage",
        "torch.QUInt2x4Storage",
        "torch.QUInt4x2Storage",
        "torch.QUInt8Storage",
        "torch.Tensor",
        "torch.device",
        "torch.strided",
        "torch.sparse_coo",
        "torch.sparse_csr",
        "torch.sparse_csc",
        "torch.sparse_bsr",
        "torch.sparse_bsc",
        "torch._mkldnn",
        "torch.contiguous_format",
        "torch.channels_last",
        "torch.channels_last_3d",
        "torch.preserve_format",
        "torch.per_channel_affine",
        "torch.per_channel_affine_float_qparams",
        "torch.per_channel_symmetric",
        "torch.per_tensor_affine",
        "torch.per_tensor_symmetric",
        "torch.nn.parameter.Parameter",
        "torch.serialization._get_layout",
        "torch.storage.TypedStorage",
        "torch.storage.UntypedStorage",
        "torch._tensor._rebuild_from_type_v2",
        "torch._utils._rebuild_device_tensor_from_cpu_tensor",
        "torch._utils._rebuild_device_tensor_from_numpy",
        "torch._utils._rebuild_meta_tensor_no_storage",
        "torch._utils._rebuild_nested_tensor",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch._utils._rebuild_qtensor",
        "torch._utils._rebuild_sparse_tensor",
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_wrapper_subclass",
        "numpy.ndarray",
        "numpy.core.numeric._frombuffer",
        "numpy._core.numeric._frombuffer",
        "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
        "transformers.configuration_utils.PretrainedConfig",
        "transformers.generation.configuration_utils.GenerationConfig",
        "numpy.dtype",
        "numpy.core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray._reconstruct",
        "numpy._core.multiarray.scalar",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random.mtrand.RandomState",
        "numpy.random._mt19937.MT19937",
        "numpy.random._pcg64.PCG64",
        "numpy.random.bit_generator.SeedSequence",
        "transformers.training_args.TrainingArguments",
        "transformers.training_args_seq2seq.Seq2SeqTrainingArguments",
        "transformers.training_args.OptimizerNames",
        "transformers.trainer_utils.IntervalStrategy",
        "transformers.trainer_utils.SaveStrategy",
        "transformers.trainer_utils.HubStrategy",
        "transformers.trainer_utils.SchedulerType",
        "transformers.trainer_utils.EvaluationStrategy",
        "transformers.trainer_utils.FSDPOption",
        "transformers.debug_utils.DebugOption",
        "transformers.trainer_pt_utils.AcceleratorConfig",
        "transformers.utils.generic.PaddingStrategy",
        "transformers.utils.generic.TensorType",
        "accelerate.utils.dataclasses.DistributedType",
        *_TORCH_STORAGES,
        *_TORCH_DTYPES,
    ]
    + [f"numpy.dtypes.{t}DType" for t in ("Float16", "Float32", "Float64", "Int8", "Int16", "Int32", "Int64")]
    + [f"numpy.dtypes.{t}DType" for t in ("UInt8", "UInt16", "UInt32", "UInt64", "Bool", "Complex64", "Complex128")]
)

# Names that only grade a refusal: module prefixes and exact names known to run code or touch the system.
_MALICIOUS_MODULES = (
    "os",
    "posix",
    "nt",
    "subprocess",
    "_posixsubprocess",
    "sys",
    "socket",
    "shutil",
    "pty",
    "importlib",
    "runpy",
    "code",
    "codeop",
    "pickle",
    "_pickle",
    "marshal",
    "types",
    "ctypes",
    "_ctypes",
    "webbrowser",
    "pdb",
    "bdb",
    "timeit",
    "profile",
    "cProfile",
    "trace",
    "doctest",
    "idlelib",
    "ensurepip",
    "pip",
    "venv",
    "multiprocessing",
    "asyncio",
    "uuid._get_command_stdout",
    "imaplib",
    "pydoc",
    "inspect",
    "urllib",
    "http",
    "ftplib",
    "smtplib",
    "telnetlib",
    "logging",
    "io",
    "_io",
    "tempfile",
    "pathlib.Path",
    "numpy.load",
    "numpy.f2py",
    "numpy.testing",
    "torch.load",
    "torch.jit",
    "torch.hub",
    "torch._dynamo",
    "torch._inductor",
    "torch.storage._load_from_bytes",
    "joblib.load",
    "dill",
    "cloudpickle",
)
_MALICIOUS_NAMES = frozenset(
    "builtins." + n
    for n in [
        "eval",
        "exec",
        "compile",
        "open",
        "__import__",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "input",
        "breakpoint",
        "help",
        "memoryview",
        "print",
    ]
) | frozenset(
    [
        "operator.attrgetter",
        "operator.methodcaller",
        "operator.itemgetter",
        "_operator.attrgetter",
        "_operator.methodcaller",
        "functools.partial",
        "functools.reduce",
        "_functools.partial",
        "copyreg.__newobj__",
    ]
)


# Classes (CapWords names only, never functions) in namespaces that hold plain layers, optimizers
# and configurations: whole-module checkpoints (`torch.save(model)`) and trainer states use them.
_ALLOWED_CLASSES = re.compile(
    r"^(?:torch\.nn\.modules\.[a-z_.]+|torch\.optim(?:\.lr_scheduler|\.[a-z_]+)?"
    r"|transformers\.models\.[a-z0-9_]+\.configuration_[a-z0-9_]+)\.[A-Z][A-Za-z0-9]*$"
)


def allowed(qualname: str) -> bool:
    return qualname in ALLOWED or bool(_ALLOWED_CLASSES.match(qualname))


def severity(qualname: str) -> str:
    """`malicious` for known code-execution or system primitives, else `suspicious`."""
    if qualname in _MALICIOUS_NAMES:
        return "malicious"
    if any(qualname == m or qualname.startswith(m + ".") for m in _MALICIOUS_MODULES):
        return "malicious"
    return "suspicious"
