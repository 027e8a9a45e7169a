// llamavid-ask: answers a question about a video (through a GStreamer pipeline with the
// llamavid element) or about images taken as consecutive frames. See docs/tools.md.
#include <iostream>
#include <limits>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "answer_dump.h"
#include "cli_args.h"
#include "core/default_model.h"
#include "core/error.h"
#include "model/model.h"
#include "stream/session.h"
#include "video_asker.h"
#include "video_dump.h"
#include "vision/preprocess.h"

using namespace llamavid;

namespace {

const char* kUsage =
    "usage: llamavid-ask [--model DIR] [--device D] [--sample-fps F] [--max-new-tokens N]\n"
    "                    [--temperature T] [--seed S] [--context-mode auto|standing|exact|hybrid]\n"
    "                    [--hybrid-window SECONDS] [--subtitles FILE.srt] [--dump DIR]\n"
    "                    [--after SECONDS] [-i|--interactive] [--json] [--watch QUESTION ...]\n"
    "                    (--video FILE|URI | --image FILE [--image FILE ...]) [QUESTION]\n"
    "\n"
    "Answers QUESTION about a video (decoded by GStreamer and watched by the llamavid element)\n"
    "or about images taken as consecutive frames.\n"
    "\n"
    "  --video FILE|URI       a file, or any URI GStreamer plays (rtsp://, http://, v4l2://);\n"
    "                         a file is answered at its end, a live source after --after\n"
    "  --image FILE           an image as the next frame (repeatable); no GStreamer\n"
    "  --model DIR            model directory (default: the shipped default model)\n"
    "  --device D             auto (default: CUDA when libtorch has it), cpu, cuda, cuda:N\n"
    "  --sample-fps F         frames of stream time per second turned into tokens (default 1)\n"
    "  --max-new-tokens N     length limit of an answer (default 64)\n"
    "  --temperature T        0 answers greedily (default); above 0 samples\n"
    "  --seed S               sampling seed (default 0)\n"
    "  --context-mode M       auto (default: the model's own), standing, exact or hybrid\n"
    "  --hybrid-window S      seconds of stream with question-guided context tokens in the\n"
    "                         hybrid mode (default 300)\n"
    "  --subtitles FILE.srt   subtitles of the video, placed after their frames in the prompt\n"
    "  --dump DIR             writes DIR/tokens.safetensors: the context and content tokens,\n"
    "                         prompt ids and answer ids behind the answer (one question)\n"
    "  --after S              live sources: seconds of stream before QUESTION is asked\n"
    "                         (default 10); Ctrl-C answers it about what was seen\n"
    "  -i, --interactive      also answers each line typed on stdin, while the video plays\n"
    "  --json                 prints each answer, error and alert as one JSON object per line\n"
    "                         (the element's text-format=json objects) instead of plain text\n"
    "  --watch QUESTION       a standing question (repeatable): each alert is printed as it\n"
    "                         fires, \"HH:MM:SS.mmm  QUESTION: PREVIOUS -> ANSWER\"; with --watch\n"
    "                         QUESTION may be left out\n"
    "  -h, --help             this help\n"
    "\n"
    "On a file, progress goes to stderr: position / duration while stderr is a terminal, and\n"
    "a last line in any case.\n";

// --context-mode, checked (unset when it is not given: the session's or element's default).
std::optional<ContextMode> context_mode(const CliArgs& args) {
  if (!args.has("context-mode")) return std::nullopt;
  ContextMode mode;
  if (!parse_context_mode(args.value("context-mode", ""), mode))
    throw UsageError("--context-mode must be auto, standing, exact or hybrid");
  return mode;
}

SessionOptions session_options(const CliArgs& args) {
  SessionOptions o;
  o.max_new_tokens = static_cast<int64_t>(args.integer("max-new-tokens", 64));
  o.temperature = args.number("temperature", 0.0);
  o.seed = args.integer("seed", 0);
  if (auto mode = context_mode(args)) o.context_mode = *mode;
  o.hybrid_window_ns = args.duration_ns("hybrid-window", o.hybrid_window_ns);
  return o;
}

// Images as consecutive frames, 1/sample-fps seconds apart.
int ask_images(const CliArgs& args, const std::string& question) {
  const double fps = args.number("sample-fps", 1.0);
  if (!(fps > 0)) throw UsageError("--sample-fps must be positive");
  LoadOptions load;
  load.device = args.value("device", "auto");
  auto model = Model::load(args.value("model", default_model_dir()), load);
  Session session(model, session_options(args));

  std::vector<cv::Mat> images;
  std::vector<Frame> frames;
  for (const std::string& path : args.values("image")) {
    cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
    if (bgr.empty()) throw Error(path + ": cannot read the image");
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    images.push_back(rgb);
  }
  for (size_t i = 0; i < images.size(); ++i) {
    const auto pts_ns = static_cast<int64_t>(static_cast<double>(i) / fps * 1e9);
    frames.push_back(frame_from_rgb(images[i], pts_ns));
  }
  session.add_frames(frames);
  Answer answer = session.answer(question, args.has("dump"));
  if (args.has("dump")) write_answer_dump(args.value("dump"), answer);
  std::cout << answer.text << std::endl;
  return 0;
}

// Only the options given reach the element, which keeps its own defaults for the rest.
int ask_video_file_or_uri(const CliArgs& args, const std::string& question) {
  const bool interactive = args.has("interactive");
  if (question.empty() && !interactive && !args.has("watch"))
    throw UsageError("a question is needed with --video (or --interactive, or --watch)");
  VideoAskOptions o;
  o.source = args.value("video");
  o.question = question;
  o.model = args.value("model");
  o.device = args.value("device");
  if (args.has("sample-fps")) {
    o.sample_fps = args.number("sample-fps", 1.0);
    if (!(*o.sample_fps > 0)) throw UsageError("--sample-fps must be positive");
  }
  if (args.has("max-new-tokens")) {
    const uint64_t n = args.integer("max-new-tokens", 64);
    if (n > std::numeric_limits<unsigned>::max())
      throw UsageError("--max-new-tokens is too large");
    o.max_new_tokens = static_cast<unsigned>(n);
  }
  if (args.has("temperature")) {
    o.temperature = args.number("temperature", 0.0);
    if (!(*o.temperature >= 0)) throw UsageError("--temperature must not be negative");
  }
  if (args.has("seed")) o.seed = args.integer("seed", 0);
  o.context_mode = context_mode(args);
  if (args.has("hybrid-window")) o.hybrid_window_ns = args.duration_ns("hybrid-window", 0);
  o.subtitles = args.value("subtitles", "");
  o.after_s = args.number("after", 10.0);
  if (!(o.after_s >= 0)) throw UsageError("--after must not be negative");
  o.interactive = interactive;
  o.watches = args.values("watch");
  o.json = args.has("json");
  if (args.has("dump")) {
    if (o.json || !o.watches.empty()) throw UsageError("--dump goes without --json and --watch");
    if (interactive) throw UsageError("--dump answers one question: leave out --interactive");
    return ask_video_dump(o, args.value("dump"));
  }
  return ask_video(o);
}

int run(const CliArgs& args) {
  const auto& words = args.positional();
  if (words.size() > 1) throw UsageError("give the question as one argument (quote it)");
  const std::string question = words.empty() ? "" : words[0];
  if (args.has("image") == args.has("video"))
    throw UsageError("give either --video or --image");
  if (args.has("image")) {
    if (question.empty()) throw UsageError("a question is needed with --image");
    for (const char* option : {"subtitles", "json", "watch"})
      if (args.has(option)) throw UsageError(std::string("--") + option + " goes with --video");
    return ask_images(args, question);
  }
  return ask_video_file_or_uri(args, question);
}

}  // namespace

int main(int argc, char** argv) {
  return tool_main("llamavid-ask", kUsage, argc, argv,
                   {{"model", "device", "sample-fps", "max-new-tokens", "temperature", "seed",
                     "context-mode", "hybrid-window", "subtitles", "dump", "after", "video", "image",
                     "watch"},
                    {"interactive", "json"},
                    {{"-i", "interactive"}}},
                   run);
}
