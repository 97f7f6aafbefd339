"""A GGUF splitter in llama.cpp's gguf-split layout, for the split-model tests (independent
of moescope's C reader and writer: plain struct parsing).

Layout (llama.cpp tools/gguf-split/gguf-split.cpp, split_strategy): part i is
"<prefix>-%05d-of-%05d.gguf" % (i + 1, n); the first part carries every key/value of the
input followed by split.no (u16), split.count (u16) and split.tensors.count (i32); the other
parts carry only those three keys. --split-max-tensors N starts a new part before tensor i
when i > 0 and i % N == 0; --no-tensor-first-split leaves the first part without tensors.
Each tensor's data is padded with zeros to the alignment (32), as is the metadata.

Also a reader/writer used by the tests to build broken sets (a part without a tensor, with a
tensor twice, with the wrong split.no, from another set)."""
import struct

ALIGN = 32
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)
SCALAR = {T_U8: 1, T_I8: 1, T_U16: 2, T_I16: 2, T_U32: 4, T_I32: 4, T_F32: 4, T_BOOL: 1,
          T_U64: 8, T_I64: 8, T_F64: 8}
# ggml type id -> (elements per block, bytes per block)
BLOCKS = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24),
          8: (32, 34), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176),
          14: (256, 210)}


def _pad(n, a=ALIGN):
    return (n + a - 1) // a * a


class Reader:
    def __init__(self, buf):
        self.b, self.p = buf, 0

    def take(self, n):
        if self.p + n > len(self.b):
            raise ValueError("truncated GGUF")
        v = self.b[self.p:self.p + n]
        self.p += n
        return v

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def s(self):
        return self.take(self.u64())

    def skip_value(self, t):
        if t in SCALAR:
            self.take(SCALAR[t])
        elif t == T_STR:
            self.s()
        elif t == T_ARR:
            et, n = self.u32(), self.u64()
            for _ in range(n):
                self.skip_value(et)
        else:
            raise ValueError("bad value type %d" % t)


def read(path):
    """(kvs, tensors): kvs a list of (key str, type, raw value bytes); tensors a list of dicts
    name, dims (ggml order), type, data (bytes, unpadded)."""
    with open(path, "rb") as f:
        buf = f.read()
    r = Reader(buf)
    if r.take(4) != b"GGUF":
        raise ValueError("%s: not GGUF" % path)
    version, nt, nkv = r.u32(), r.u64(), r.u64()
    if version not in (2, 3):
        raise ValueError("%s: GGUF version %d" % (path, version))
    kvs = []
    align = ALIGN
    for _ in range(nkv):
        key = r.s().decode()
        t = r.u32()
        start = r.p
        r.skip_value(t)
        raw = buf[start:r.p]
        if key == "general.alignment":
            align = struct.unpack("<I", raw)[0]
        kvs.append((key, t, raw))
    infos = []
    for _ in range(nt):
        name = r.s().decode()
        nd = r.u32()
        dims = [r.u64() for _ in range(nd)]
        ty, off = r.u32(), r.u64()
        infos.append((name, dims, ty, off))
    data0 = _pad(r.p, align)
    tensors = []
    for name, dims, ty, off in infos:
        be, bb = BLOCKS[ty]
        rows = 1
        for d in dims[1:]:
            rows *= d
        nbytes = rows * (dims[0] // be) * bb
        a = data0 + off
        tensors.append({"name": name, "dims": dims, "type": ty, "data": buf[a:a + nbytes]})
    return kvs, tensors


def kv_u16(key, v):
    return (key, T_U16, struct.pack("<H", v))


def kv_i32(key, v):
    return (key, T_I32, struct.pack("<i", v))


def kv_str(key, v):
    b = v.encode()
    return (key, T_STR, struct.pack("<Q", len(b)) + b)


def write(path, kvs, tensors):
    """A GGUF v3 file with alignment 32 (kvs must not set another general.alignment)."""
    out = bytearray(b"GGUF")
    out += struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for key, t, raw in kvs:
        k = key.encode()
        out += struct.pack("<Q", len(k)) + k + struct.pack("<I", t) + raw
    off = 0
    for t in tensors:
        n = t["name"].encode()
        out += struct.pack("<Q", len(n)) + n + struct.pack("<I", len(t["dims"]))
        out += b"".join(struct.pack("<Q", d) for d in t["dims"])
        out += struct.pack("<IQ", t["type"], off)
        off += _pad(len(t["data"]))
    out += bytes(_pad(len(out)) - len(out))
    for t in tensors:
        out += t["data"] + bytes(_pad(len(t["data"])) - len(t["data"]))
    with open(path, "wb") as f:
        f.write(out)


def part_name(prefix, i, n):
    return "%s-%05d-of-%05d.gguf" % (prefix, i + 1, n)


def plan(tensors, max_tensors, no_tensor_first=False):
    """Lists of tensors per part, as gguf-split --split-max-tensors N."""
    parts = [[]] if no_tensor_first else []
    cur = []
    for i, t in enumerate(tensors):
        if i > 0 and i % max_tensors == 0:
            parts.append(cur)
            cur = []
        cur.append(t)
    parts.append(cur)
    return parts


def split_keys(i, n, n_tensors):
    return [kv_u16("split.no", i), kv_u16("split.count", n), kv_i32("split.tensors.count", n_tensors)]


def split(src, prefix, max_tensors, no_tensor_first=False):
    """Splits GGUF file src into prefix-0000i-of-0000n.gguf; returns the part paths."""
    kvs, tensors = read(src)
    parts = plan(tensors, max_tensors, no_tensor_first)
    n = len(parts)
    paths = []
    for i, ts in enumerate(parts):
        meta = [kv for kv in kvs if kv[0] != "general.alignment"] if i == 0 else []
        p = part_name(prefix, i, n)
        write(p, meta + split_keys(i, n, len(tensors)), ts)
        paths.append(p)
    return paths
