// Model::load against a config.json that does not fit its weights: refused, naming the tensor,
// before the modules are built for real.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/model.h"
#include "error_of.h"
#include "test_util.h"

using namespace llamavid;
namespace fs = std::filesystem;

namespace {

// A copy of a tiny model whose config.json is changed by `edit`.
std::string edited_model(const std::string& name, void (*edit)(nlohmann::json&)) {
  const std::string dir = test::scratch_dir("model_load_" + name);
  test::run_python("make_tiny_model.py", dir + " movie");
  nlohmann::json config = nlohmann::json::parse(test::read_file(dir + "/config.json"));
  edit(config);
  test::write_file(dir + "/config.json", config.dump());
  return dir;
}

std::string load_error(const std::string& dir) {
  return test::error_of([&] { Model::load(dir); });
}

}  // namespace

// More LLM layers than the weights hold (within the sane bounds): the first missing tensor.
TEST(ModelLoad, MoreLayersThanTheWeights) {
  const std::string dir = edited_model("layers", [](nlohmann::json& c) {
    c["num_hidden_layers"] = c["num_hidden_layers"].get<int>() + 998;
  });
  const std::string msg = load_error(dir);
  EXPECT_NE(msg.find("config.json does not fit the weights"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.layers."), std::string::npos) << msg;
}

// Fewer vision layers than the weights hold: the tensors left over are named.
TEST(ModelLoad, FewerLayersThanTheWeights) {
  const std::string dir = edited_model("vision_layers", [](nlohmann::json& c) {
    c["vision_config"]["num_hidden_layers"] = 1;
  });
  const std::string msg = load_error(dir);
  EXPECT_NE(msg.find("config.json does not fit the weights"), std::string::npos) << msg;
  EXPECT_NE(msg.find("blocks.1."), std::string::npos) << msg;
}

// A width that differs from the tensors' names the shapes.
TEST(ModelLoad, WidthDiffersFromTheWeights) {
  const std::string dir = edited_model("width", [](nlohmann::json& c) {
    c["intermediate_size"] = c["intermediate_size"].get<int>() * 2;
  });
  const std::string msg = load_error(dir);
  EXPECT_NE(msg.find("has shape"), std::string::npos) << msg;
  EXPECT_NE(msg.find("mlp"), std::string::npos) << msg;
}
