// Precompiled header for every translation unit of libllamavid: libtorch's headers take most of
// the compile time of each file.
#include <torch/torch.h>
