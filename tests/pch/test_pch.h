// Precompiled header for the lib/ unit tests: libtorch and GoogleTest dominate their compile time.
#include <gtest/gtest.h>
#include <torch/torch.h>
