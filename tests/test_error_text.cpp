// error_text: what users are told of an exception.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/error_text.h"
#include "core/utf8.h"

using namespace llamavid;

// A libtorch error's what() carries a C++ backtrace; the text users see keeps only the message.
TEST(ErrorText, NoLibtorchBacktrace) {
  try {
    torch::matmul(torch::zeros({2, 3}), torch::zeros({4, 5}));
    FAIL() << "no error";
  } catch (const std::exception& e) {
    ASSERT_NE(std::string(e.what()).find("Exception raised from"), std::string::npos)
        << "this libtorch prints no backtrace: the test shows nothing";
    const std::string text = error_text(e);
    EXPECT_EQ(text.find("Exception raised from"), std::string::npos) << text;
    EXPECT_EQ(text, "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)");
    EXPECT_EQ(text.find('\n'), std::string::npos) << text;
  }
}

// Our errors pass as they are; invalid bytes (a file name, a bad config value) are shown as
// "\xNN", and an empty message says something.
TEST(ErrorText, ValidUtf8AndNeverEmpty) {
  EXPECT_EQ(error_text(Error("config.json: key 'x' must be a string")),
            "config.json: key 'x' must be a string");
  EXPECT_EQ(error_text(Error("bad \xff name")), "bad \\xFF name");
  EXPECT_EQ(error_text(Error("\xC3")), "\\xC3");
  EXPECT_EQ(error_text(Error("caf\xC3\xA9 \xED\xA0\x80")), "caf\xC3\xA9 \\xED\\xA0\\x80");
  EXPECT_EQ(error_text(std::runtime_error("")), "unknown error");
}
