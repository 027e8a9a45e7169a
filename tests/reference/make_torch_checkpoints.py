"""Writes torch.save fixtures for the weight-reader tests: make_torch_checkpoints.py CASE DIR.

Files come from Debian's real torch.save, or, for the malformed cases, from a hand-made zip
around a real file's entries. Expected values are written beside them as safetensors.
"""
import collections
import io
import os
import struct
import sys
import zipfile
import zlib

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32,
          torch.int16, torch.int8, torch.uint8, torch.bool]


def every_dtype():
    g = torch.Generator().manual_seed(0)
    out = collections.OrderedDict()
    for dt in DTYPES:
        name = str(dt).replace("torch.", "")
        if dt.is_floating_point:
            out[name] = (torch.randn(3, 5, generator=g) * 100).to(dt)
        elif dt == torch.bool:
            out[name] = torch.randint(0, 2, (3, 5), generator=g).bool()
        else:
            info = torch.iinfo(dt)
            out[name] = torch.randint(max(info.min, -1000), min(info.max, 1000), (3, 5),
                                      generator=g).to(dt)
    out["scalar"] = torch.tensor(7, dtype=torch.int64)
    out["empty"] = torch.zeros(0, 4)
    return out


def case_dtypes(d):
    t = every_dtype()
    torch.save(t, os.path.join(d, "dtypes.pt"))
    safetensors_io.save(t, os.path.join(d, "dtypes.safetensors"))


def case_views(d):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    sd = collections.OrderedDict()
    sd["base"] = base
    sd["transposed"] = base.t()                 # stride (1, 6)
    sd["slice"] = base[1:3, 2:5]                # offset 8, stride (6, 1)
    sd["column"] = base[:, 3]                   # offset 3, stride (6,)
    sd["expanded"] = torch.arange(3.0).expand(4, 3)  # stride (0, 1)
    sd["param"] = torch.nn.Parameter(torch.linspace(-1, 1, 5).to(torch.bfloat16))
    torch.save(sd, os.path.join(d, "views.pt"))
    expected = {k: v.detach().contiguous() for k, v in sd.items()}
    strides = {"stride." + k: ",".join(str(s) for s in v.stride()) for k, v in sd.items()}
    offsets = {"offset." + k: str(v.storage_offset()) for k, v in sd.items()}
    safetensors_io.save(expected, os.path.join(d, "views.safetensors"), {**strides, **offsets})


def case_nested(d):
    sd = collections.OrderedDict(w=torch.ones(2, 3), b=torch.zeros(3))
    sd["_version"] = 1
    for key in ("model", "state_dict"):
        obj = {key: sd, "epoch": 3, "lr": 0.5, "note": "nested",
               "extra": [1, (2, None), {"k": True}], "other": torch.ones(1)}
        torch.save(obj, os.path.join(d, key + ".pt"))


def case_module(d):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.LayerNorm(4))
    x = torch.randn(2, 6)
    y = net(x).detach()
    torch.save(net.state_dict(), os.path.join(d, "module.pt"))
    safetensors_io.save({"x": x, "y": y}, os.path.join(d, "module_io.safetensors"))


def case_legacy(d):
    torch.save({"w": torch.ones(2)}, os.path.join(d, "legacy.pt"),
               _use_new_zipfile_serialization=False)


def entries_of(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def write_zip64(path, entries):
    """A zip of stored entries whose central directory gives every size and offset in zip64
    extra fields (as for files over 4 GB), closed by zip64 end records."""
    out = io.BytesIO()
    central = []
    for name, data in entries:
        offset = out.tell()
        crc = zlib.crc32(data)
        n = name.encode()
        extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc,
                              0xFFFFFFFF, 0xFFFFFFFF, len(n), len(extra)) + n + extra + data)
        cextra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc,
                                   0xFFFFFFFF, 0xFFFFFFFF, len(n), len(cextra), 0, 0, 0, 0,
                                   0xFFFFFFFF) + n + cextra)
    cd_offset = out.tell()
    for c in central:
        out.write(c)
    cd_size = out.tell() - cd_offset
    z64 = out.tell()
    out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(entries),
                          len(entries), cd_size, cd_offset))
    out.write(struct.pack("<IIQI", 0x07064B50, 0, z64, 1))
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                          0xFFFFFFFF, 0))
    with open(path, "wb") as f:
        f.write(out.getvalue())


def case_zip64(d):
    case_dtypes(d)
    write_zip64(os.path.join(d, "zip64.pt"), entries_of(os.path.join(d, "dtypes.pt")))


def case_compressed(d):
    case_dtypes(d)
    with zipfile.ZipFile(os.path.join(d, "compressed.pt"), "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries_of(os.path.join(d, "dtypes.pt")):
            z.writestr(name, data)


def case_truncated(d):
    case_dtypes(d)
    with open(os.path.join(d, "dtypes.pt"), "rb") as f:
        data = f.read()
    with open(os.path.join(d, "truncated.pt"), "wb") as f:
        f.write(data[: len(data) // 2])


def case_short_storage(d):
    """A storage entry holding fewer bytes than the pickle says the storage has."""
    case_dtypes(d)
    entries = [(n, data[: len(data) // 2] if "/data/" in n else data)
               for n, data in entries_of(os.path.join(d, "dtypes.pt"))]
    write_zip64(os.path.join(d, "short_storage.pt"), entries)


def case_forbidden(d):
    """A hand-made pickle that would call os.system("echo pwned") if it were executed."""
    pkl = b"\x80\x02cos\nsystem\nq\x00X\x0a\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03."
    write_zip64(os.path.join(d, "forbidden.pt"),
                [("archive/data.pkl", pkl), ("archive/version", b"3\n")])


def nested_case(d, name, body):
    write_zip64(os.path.join(d, name + ".pt"),
                [("archive/data.pkl", b"\x80\x02" + body + b"."), ("archive/version", b"3\n")])


def case_deep(d):
    """Hand-made pickles nesting a list, a dict and a tuple a million deep (a recursive free of
    the value tree overflowed the stack), and lists chained a million deep through the memo after
    they were nested (which no depth count at nesting time sees)."""
    n = 1000000
    nested_case(d, "deep_list", b"]" * n + b"a" * (n - 1))
    nested_case(d, "deep_dict", b"}X\x01\x00\x00\x00k" * n + b"N" + b"s" * n)
    nested_case(d, "deep_tuple", b"N" + b"\x85" * n)
    chain = [b"]r\x00\x00\x00\x00"]
    for i in range(1, n):
        chain.append(b"j" + (i - 1).to_bytes(4, "little") + b"]r" + i.to_bytes(4, "little") + b"a")
    nested_case(d, "memo_chain", b"".join(chain))


def case_not_torch(d):
    with zipfile.ZipFile(os.path.join(d, "not_torch.zip"), "w") as z:
        z.writestr("readme.txt", "hello")


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    case, directory = sys.argv[1], sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    CASES[case](directory)
