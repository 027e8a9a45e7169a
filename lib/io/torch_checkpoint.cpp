#include "io/torch_checkpoint.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "core/error.h"
#include "io/mapped_file.h"
#include "io/zip_archive.h"

namespace llamavid {

namespace {

// A value of the restricted unpickler. Containers are shared (the memo hands out references, and
// SETITEMS on a memoized dict must change every reference).
struct Value;
using ValuePtr = std::shared_ptr<Value>;

// Containers nest at most this deep (a state dict nests 4). A hostile pickle nesting a list a
// million deep is refused while it is read; one that nests through the memo after the fact is
// still freed without recursion (~Value).
constexpr int kMaxPickleDepth = 100;

struct Value {
  Value() = default;
  Value(const Value&) = delete;
  Value& operator=(const Value&) = delete;
  ~Value();

  enum class Kind {
    None,
    Bool,
    Int,
    Float,
    String,
    Bytes,
    Tuple,
    List,
    Dict,
    Global,
    Storage,
    Tensor
  };
  Kind kind = Kind::None;
  int64_t i = 0;
  double f = 0;
  std::string s;                                       // String, Bytes; Global: "module.name"
  std::vector<ValuePtr> items;                         // Tuple, List
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;  // Dict
  torch::Tensor tensor;  // Storage: 1-D over the storage's bytes; Tensor: the tensor
  int depth = 1;         // containers: 1 + the deepest child's depth when it was added
};

// Frees the containers below iteratively: each one whose last holder this is gives its children
// to the work list before it goes, so no destructor runs inside another.
Value::~Value() {
  std::vector<ValuePtr> pending;
  auto adopt = [&](Value& v) {
    for (ValuePtr& c : v.items) pending.push_back(std::move(c));
    for (auto& [k, c] : v.entries) {
      pending.push_back(std::move(k));
      pending.push_back(std::move(c));
    }
    v.items.clear();
    v.entries.clear();
  };
  adopt(*this);
  while (!pending.empty()) {
    ValuePtr v = std::move(pending.back());
    pending.pop_back();
    if (v && v.use_count() == 1) adopt(*v);
  }
}

ValuePtr make(Value::Kind kind) {
  auto v = std::make_shared<Value>();
  v->kind = kind;
  return v;
}

const char* kind_name(Value::Kind k) {
  switch (k) {
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::Int: return "int";
    case Value::Kind::Float: return "float";
    case Value::Kind::String: return "str";
    case Value::Kind::Bytes: return "bytes";
    case Value::Kind::Tuple: return "tuple";
    case Value::Kind::List: return "list";
    case Value::Kind::Dict: return "dict";
    case Value::Kind::Global: return "global";
    case Value::Kind::Storage: return "storage";
    case Value::Kind::Tensor: return "tensor";
  }
  return "?";
}

// The legacy typed storages torch.save names for each dtype.
bool storage_dtype(const std::string& global, at::ScalarType& out) {
  static const std::unordered_map<std::string, at::ScalarType> types = {
      {"torch.DoubleStorage", at::kDouble}, {"torch.FloatStorage", at::kFloat},
      {"torch.HalfStorage", at::kHalf},     {"torch.BFloat16Storage", at::kBFloat16},
      {"torch.LongStorage", at::kLong},     {"torch.IntStorage", at::kInt},
      {"torch.ShortStorage", at::kShort},   {"torch.CharStorage", at::kChar},
      {"torch.ByteStorage", at::kByte},     {"torch.BoolStorage", at::kBool},
  };
  auto it = types.find(global);
  if (it == types.end()) return false;
  out = it->second;
  return true;
}

const char* const kRebuildTensor = "torch._utils._rebuild_tensor_v2";
const char* const kRebuildParameter = "torch._utils._rebuild_parameter";
const char* const kRebuildParameterWithState = "torch._utils._rebuild_parameter_with_state";
const char* const kOrderedDict = "collections.OrderedDict";

bool allowed_global(const std::string& name) {
  at::ScalarType unused;
  return name == kRebuildTensor || name == kRebuildParameter ||
         name == kRebuildParameterWithState || name == kOrderedDict || storage_dtype(name, unused);
}

class Unpickler {
 public:
  Unpickler(const ZipArchive& zip, std::string archive)
      : zip_(zip),
        archive_(std::move(archive)),
        where_(zip.path() + " (" + archive_ + "/data.pkl)") {
    const ZipArchive::Entry& pkl = zip_.stored(archive_ + "/data.pkl");
    data_ = zip_.file()->data() + pkl.data;
    size_ = pkl.size;
  }

  ValuePtr run() {
    try {
      return interpret();
    } catch (...) {
      break_cycles();
      throw;
    }
  }

  // Containers that hold themselves (possible only in hostile files) would leak otherwise. Every
  // container made is cleared, not only those the memo still names: a memo slot written again
  // forgets a container that may be in a cycle (a fuzzer find).
  void break_cycles() {
    for (const std::weak_ptr<Value>& weak : containers_) {
      if (ValuePtr v = weak.lock()) {
        v->items.clear();
        v->entries.clear();
      }
    }
    containers_.clear();
    stack_.clear();
  }

 private:
  Error fail(const std::string& what) const {
    return Error("cannot read " + where_ + ": " + what + " (at pickle offset " +
                 std::to_string(op_pos_) + ")");
  }

  const uint8_t* take(size_t n) {
    if (n > size_ - pos_) throw fail("the pickle ends early (truncated?)");
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint64_t le(int bytes) {
    const uint8_t* p = take(bytes);
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }
  std::string text(size_t n) {
    const uint8_t* p = take(n);
    return std::string(reinterpret_cast<const char*>(p), n);
  }
  std::string line() {
    const void* nl = std::memchr(data_ + pos_, '\n', size_ - pos_);
    if (!nl) throw fail("unterminated GLOBAL");
    size_t n = static_cast<const uint8_t*>(nl) - (data_ + pos_);
    std::string out = text(n);
    take(1);
    return out;
  }

  void push(ValuePtr v) { stack_.push_back(std::move(v)); }
  // A tuple, list or dict, remembered so that break_cycles() reaches it.
  ValuePtr container(Value::Kind kind) {
    ValuePtr v = make(kind);
    containers_.push_back(v);
    return v;
  }
  ValuePtr pop() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) throw fail("stack underflow");
    ValuePtr v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  ValuePtr& top() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) throw fail("stack underflow");
    return stack_.back();
  }
  // The values pushed since the last MARK, which is removed.
  std::vector<ValuePtr> pop_mark() {
    if (marks_.empty()) throw fail("no MARK");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> out(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return out;
  }
  // Records that `child` is now inside `parent`; Error when that nests too deep.
  void nest(Value& parent, const ValuePtr& child) {
    parent.depth = std::max(parent.depth, child->depth + 1);
    if (parent.depth > kMaxPickleDepth)
      throw fail("containers nest deeper than " + std::to_string(kMaxPickleDepth) + " levels");
  }
  ValuePtr tuple(std::vector<ValuePtr> items) {
    ValuePtr t = container(Value::Kind::Tuple);
    for (const ValuePtr& item : items) nest(*t, item);
    t->items = std::move(items);
    return t;
  }
  ValuePtr integer(int64_t i) {
    ValuePtr v = make(Value::Kind::Int);
    v->i = i;
    return v;
  }
  ValuePtr string(std::string s, Value::Kind kind = Value::Kind::String) {
    ValuePtr v = make(kind);
    v->s = std::move(s);
    return v;
  }
  void memo_put(uint64_t index) { memo_[index] = top(); }
  ValuePtr memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) throw fail("memo entry " + std::to_string(index) + " is unset");
    return it->second;
  }
  void set_items(ValuePtr dict, const std::vector<ValuePtr>& kv) {
    if (dict->kind != Value::Kind::Dict)
      throw fail(std::string("SETITEM on a ") + kind_name(dict->kind));
    if (kv.size() % 2) throw fail("SETITEMS with an odd number of values");
    for (size_t i = 0; i < kv.size(); i += 2) {
      nest(*dict, kv[i]);
      nest(*dict, kv[i + 1]);
      dict->entries.emplace_back(kv[i], kv[i + 1]);
    }
  }
  void append(ValuePtr list, const std::vector<ValuePtr>& items) {
    if (list->kind != Value::Kind::List)
      throw fail(std::string("APPEND on a ") + kind_name(list->kind));
    for (const ValuePtr& item : items) nest(*list, item);
    list->items.insert(list->items.end(), items.begin(), items.end());
  }
  ValuePtr global(const std::string& module, const std::string& name) {
    std::string full = module + "." + name;
    if (!allowed_global(full)) {
      throw Error("refusing to load " + zip_.path() + ": the pickle calls " + full +
                  ", and only tensors, OrderedDict and plain values may be loaded");
    }
    return string(full, Value::Kind::Global);
  }

  ValuePtr interpret();
  ValuePtr reduce(const ValuePtr& callable, const ValuePtr& args);
  ValuePtr persistent_load(const ValuePtr& pid);
  ValuePtr rebuild_tensor(const std::vector<ValuePtr>& args);

  const ZipArchive& zip_;
  std::string archive_;
  std::string where_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<std::weak_ptr<Value>> containers_;  // every container made, for break_cycles()
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, ValuePtr> memo_;
  std::unordered_map<std::string, ValuePtr> storages_;
};

ValuePtr Unpickler::interpret() {
  using K = Value::Kind;
  while (true) {
    op_pos_ = pos_;
    uint8_t op = *take(1);
    switch (op) {
      case 0x80: take(1); break;  // PROTO
      case 0x95: take(8); break;  // FRAME: frames are only a buffering hint
      case '.': return pop();     // STOP
      case '}': push(container(K::Dict)); break;
      case ']': push(container(K::List)); break;
      case ')': push(container(K::Tuple)); break;
      case '(': marks_.push_back(stack_.size()); break;
      case 'q': memo_put(le(1)); break;                             // BINPUT
      case 'r': memo_put(le(4)); break;                             // LONG_BINPUT
      case 0x94: memo_put(memo_.size()); break;                     // MEMOIZE
      case 'h': push(memo_get(le(1))); break;                       // BINGET
      case 'j': push(memo_get(le(4))); break;                       // LONG_BINGET
      case 'X': push(string(text(le(4)))); break;                   // BINUNICODE
      case 0x8c: push(string(text(le(1)))); break;                  // SHORT_BINUNICODE
      case 0x8d: push(string(text(le(8)))); break;                  // BINUNICODE8
      case 'C': push(string(text(le(1)), K::Bytes)); break;         // SHORT_BINBYTES
      case 'B': push(string(text(le(4)), K::Bytes)); break;         // BINBYTES
      case 'J': push(integer(static_cast<int32_t>(le(4)))); break;  // BININT
      case 'K': push(integer(static_cast<int64_t>(le(1)))); break;  // BININT1
      case 'M': push(integer(static_cast<int64_t>(le(2)))); break;  // BININT2
      case 0x8a: {  // LONG1: little-endian two's complement of n bytes
        size_t n = le(1);
        if (n > 8) throw fail("integer of " + std::to_string(n) + " bytes is too large");
        uint64_t v = n ? le(static_cast<int>(n)) : 0;
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t(0) << (8 * n);
        push(integer(static_cast<int64_t>(v)));
        break;
      }
      case 'G': {  // BINFLOAT: big-endian double
        const uint8_t* p = take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
        ValuePtr v = make(K::Float);
        std::memcpy(&v->f, &bits, 8);
        push(v);
        break;
      }
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        ValuePtr v = make(K::Bool);
        v->i = op == 0x88;
        push(v);
        break;
      }
      case 'N': push(make(K::None)); break;
      case 't': push(tuple(pop_mark())); break;
      case 0x85: push(tuple({pop()})); break;  // TUPLE1
      case 0x86: {                             // TUPLE2
        ValuePtr b = pop(), a = pop();
        push(tuple({a, b}));
        break;
      }
      case 0x87: {  // TUPLE3
        ValuePtr c = pop(), b = pop(), a = pop();
        push(tuple({a, b, c}));
        break;
      }
      case 'l': {  // LIST
        ValuePtr l = container(K::List);
        append(l, pop_mark());
        push(l);
        break;
      }
      case 'd': {  // DICT
        ValuePtr d = container(K::Dict);
        set_items(d, pop_mark());
        push(d);
        break;
      }
      case 's': {  // SETITEM
        ValuePtr value = pop(), key = pop();
        set_items(top(), {key, value});
        break;
      }
      case 'u': {  // SETITEMS
        std::vector<ValuePtr> kv = pop_mark();
        set_items(top(), kv);
        break;
      }
      case 'a': {  // APPEND
        ValuePtr v = pop();
        append(top(), {v});
        break;
      }
      case 'e': {  // APPENDS
        std::vector<ValuePtr> items = pop_mark();
        append(top(), items);
        break;
      }
      case 'c': {  // GLOBAL
        std::string module = line();
        std::string name = line();
        push(global(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        ValuePtr name = pop(), module = pop();
        if (name->kind != K::String || module->kind != K::String)
          throw fail("STACK_GLOBAL of non-strings");
        push(global(module->s, name->s));
        break;
      }
      case 'R': {  // REDUCE
        ValuePtr args = pop(), callable = pop();
        push(reduce(callable, args));
        break;
      }
      case 'b':
        pop();
        top();
        break;  // BUILD: object state (e.g. _metadata) is not needed
      case 'Q': push(persistent_load(pop())); break;  // BINPERSID
      case '0': pop(); break;                         // POP
      case '1': pop_mark(); break;                    // POP_MARK
      case '2': push(top()); break;                   // DUP
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        throw fail(std::string("unsupported pickle opcode ") + hex);
      }
    }
  }
}

ValuePtr Unpickler::reduce(const ValuePtr& callable, const ValuePtr& args) {
  if (callable->kind != Value::Kind::Global) {
    throw fail(std::string("REDUCE calls a ") + kind_name(callable->kind));
  }
  if (args->kind != Value::Kind::Tuple) throw fail("REDUCE arguments are not a tuple");
  const std::string& name = callable->s;
  const std::vector<ValuePtr>& a = args->items;
  if (name == kOrderedDict) {
    if (!a.empty()) throw fail("OrderedDict called with arguments");
    return container(Value::Kind::Dict);
  }
  if (name == kRebuildTensor) return rebuild_tensor(a);
  if (name == kRebuildParameter || name == kRebuildParameterWithState) {
    if (a.empty() || a[0]->kind != Value::Kind::Tensor) throw fail(name + " without a tensor");
    return a[0];
  }
  throw fail(name + " cannot be called");
}

// ('storage', storage type, key, location, numel) -> the bytes of <archive>/data/<key>.
ValuePtr Unpickler::persistent_load(const ValuePtr& pid) {
  const std::vector<ValuePtr>& t = pid->items;
  if (pid->kind != Value::Kind::Tuple || t.size() != 5 || t[0]->kind != Value::Kind::String ||
      t[0]->s != "storage" || t[1]->kind != Value::Kind::Global ||
      t[2]->kind != Value::Kind::String || t[4]->kind != Value::Kind::Int) {
    throw fail("unexpected persistent id (expected ('storage', type, key, location, numel))");
  }
  at::ScalarType dtype;
  if (!storage_dtype(t[1]->s, dtype)) throw fail("unsupported storage type " + t[1]->s);
  const std::string& key = t[2]->s;
  auto cached = storages_.find(key);
  if (cached != storages_.end()) {
    if (cached->second->tensor.scalar_type() != dtype) {
      throw fail("storage " + key + " is used with two dtypes");
    }
    return cached->second;
  }
  const ZipArchive::Entry& entry = zip_.stored(archive_ + "/data/" + key);
  int64_t numel = t[4]->i;
  size_t itemsize = c10::elementSize(dtype);
  if (numel < 0 || static_cast<uint64_t>(numel) > entry.size / itemsize) {
    throw fail("storage " + key + " of " + std::to_string(numel) + " " + c10::toString(dtype) +
               " elements needs more than the " + std::to_string(entry.size) +
               " bytes of its entry");
  }
  ValuePtr v = make(Value::Kind::Storage);
  v->tensor = tensor_from_mapping(zip_.file(), entry.data, {numel}, dtype);
  storages_.emplace(key, v);
  return v;
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[,
// metadata]): a strided view of the storage.
ValuePtr Unpickler::rebuild_tensor(const std::vector<ValuePtr>& a) {
  auto ints = [&](const ValuePtr& v, const char* what) {
    if (v->kind != Value::Kind::Tuple)
      throw fail(std::string("tensor ") + what + " is not a tuple");
    std::vector<int64_t> out;
    for (const ValuePtr& x : v->items) {
      if (x->kind != Value::Kind::Int || x->i < 0) {
        throw fail(std::string("tensor ") + what + " holds a negative or non-integer value");
      }
      out.push_back(x->i);
    }
    return out;
  };
  if (a.size() < 4 || a[0]->kind != Value::Kind::Storage || a[1]->kind != Value::Kind::Int) {
    throw fail("_rebuild_tensor_v2 called with unexpected arguments");
  }
  const torch::Tensor& storage = a[0]->tensor;
  int64_t offset = a[1]->i;
  std::vector<int64_t> size = ints(a[2], "size"), stride = ints(a[3], "stride");
  if (size.size() != stride.size()) throw fail("tensor size and stride differ in length");
  if (offset < 0) throw fail("negative storage offset " + std::to_string(offset));
  // The element count (of the non-zero sizes: torch computes it for empty tensors too) must fit,
  // and the last element the view reaches must lie inside the storage.
  bool empty = false;
  uint64_t last = static_cast<uint64_t>(offset), nonzero = 1;
  for (size_t d = 0; d < size.size(); ++d) {
    if (size[d] == 0) {
      empty = true;
      continue;
    }
    uint64_t n = static_cast<uint64_t>(size[d]), reach = 0;
    if (__builtin_mul_overflow(nonzero, n, &nonzero) || nonzero > uint64_t(INT64_MAX) ||
        __builtin_mul_overflow(n - 1, static_cast<uint64_t>(stride[d]), &reach) ||
        __builtin_add_overflow(last, reach, &last)) {
      throw fail("tensor size " + c10::str(at::IntArrayRef(size)) + " and stride " +
                 c10::str(at::IntArrayRef(stride)) + " overflow");
    }
  }
  if (!empty && last >= static_cast<uint64_t>(storage.numel())) {
    throw fail("a tensor of size " + c10::str(at::IntArrayRef(size)) + ", stride " +
               c10::str(at::IntArrayRef(stride)) + " and offset " + std::to_string(offset) +
               " reaches past its storage of " + std::to_string(storage.numel()) + " elements");
  }
  ValuePtr v = make(Value::Kind::Tensor);
  v->tensor =
      empty ? torch::empty(size, storage.options()) : storage.as_strided(size, stride, offset);
  return v;
}

// The archive directory: torch.save names it after the file (torch >= 2 uses "archive").
std::string archive_name(const ZipArchive& zip) {
  for (const ZipArchive::Entry& e : zip.entries()) {
    size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.substr(slash) == "/data.pkl") {
      return e.name.substr(0, slash);
    }
  }
  throw Error(zip.path() + " is a zip but not a torch.save file: it has no <archive>/data.pkl");
}

const ValuePtr* dict_get(const Value& dict, const std::string& key) {
  for (const auto& [k, v] : dict.entries) {
    if (k->kind == Value::Kind::String && k->s == key) return &v;
  }
  return nullptr;
}

}  // namespace

std::map<std::string, torch::Tensor> read_torch_checkpoint(const std::string& path) {
  auto file = MappedFile::open(path);
  if (file->size() >= 1 && file->data()[0] == 0x80) {
    throw Error(path +
                " is in the legacy torch.save format (PyTorch < 1.6), which is not "
                "supported: re-save it with a newer PyTorch or convert it to safetensors");
  }
  ZipArchive zip(file);
  std::string archive = archive_name(zip);
  const ZipArchive::Entry* order = zip.find(archive + "/byteorder");
  if (order && order->method == 0) {
    std::string text(reinterpret_cast<const char*>(file->data() + order->data), order->size);
    if (text != "little") {
      throw Error("cannot read " + path + ": its tensors are stored " + text + "-endian");
    }
  }
  Unpickler unpickler(zip, archive);
  ValuePtr root = unpickler.run();
  std::map<std::string, torch::Tensor> out;
  if (root->kind != Value::Kind::Dict) {
    unpickler.break_cycles();
    throw Error("cannot read " + path + ": it holds a " + kind_name(root->kind) +
                ", not a dict of tensors");
  }
  const Value* dict = root.get();
  for (const char* key : {"model", "state_dict"}) {
    const ValuePtr* inner = dict_get(*root, key);
    if (inner && (*inner)->kind == Value::Kind::Dict) {
      dict = inner->get();
      break;
    }
  }
  for (const auto& [k, v] : dict->entries) {
    if (k->kind == Value::Kind::String && v->kind == Value::Kind::Tensor) out[k->s] = v->tensor;
  }
  unpickler.break_cycles();
  return out;
}

}  // namespace llamavid
