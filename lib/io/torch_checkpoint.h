// Reader for files written by PyTorch's torch.save (the zip format of torch >= 1.6): a zip of
// stored entries `<archive>/data.pkl` (the pickled object), `<archive>/data/<key>` (one per
// storage) and `<archive>/version`. The pickle is interpreted by a restricted unpickler that
// executes nothing: it knows only the opcodes and globals torch.save writes for a state dict
// (tensors, parameters, OrderedDict, plain numbers, strings, lists, tuples, dicts), and refuses
// the file when it names any other global.
#pragma once

#include <torch/types.h>

#include <map>
#include <string>

namespace llamavid {

// Tensors of the state dict in `path`: the top-level dict, or the dict stored under its 'model'
// or 'state_dict' key. Values that are not tensors are skipped. Tensors are on the CPU with their
// stored dtype, offset, size and stride (views and shared storages come out as in PyTorch) and
// view the file's mapping where the bytes are aligned. Throws Error naming the file for anything
// else: legacy (pre-1.6) files, compressed or truncated zips, unknown opcodes or globals.
std::map<std::string, torch::Tensor> read_torch_checkpoint(const std::string& path);

}  // namespace llamavid
