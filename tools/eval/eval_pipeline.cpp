#include "eval_pipeline.h"

#include <iostream>
#include <map>
#include <utility>

#include "core/error.h"
#include "gst_elements.h"

namespace llamavid::eval {

namespace {

void link(GstElement* a, GstElement* b) {
  if (!gst_element_link(a, b))
    throw Error(std::string("cannot link ") + GST_OBJECT_NAME(a) + " to " + GST_OBJECT_NAME(b));
}

}  // namespace

EvalPipeline::EvalPipeline(const EvalPipelineOptions& options) : options_(options) {
  if (!gst_is_initialized()) gst_init(nullptr, nullptr);
  pipeline_ = gst_pipeline_new("llamavid-eval");
  bus_ = gst_element_get_bus(pipeline_);
  try {
    GstElement* convert = make_element("videoconvert");
    GstElement* tee = make_element("tee");
    gst_bin_add_many(GST_BIN(pipeline_), convert, tee, nullptr);
    add_source(convert);
    link(convert, tee);
    for (const std::string& mode : options.modes) {
      GstElement* queue = make_element("queue");
      GstElement* llamavid = make_llamavid_element(("llamavid-" + mode).c_str());
      GstElement* sink = make_element("fakesink");
      g_object_set(sink, "sync", FALSE, nullptr);
      gst_bin_add_many(GST_BIN(pipeline_), queue, llamavid, sink, nullptr);
      llamavid_.push_back(llamavid);
      if (!g_object_class_find_property(G_OBJECT_GET_CLASS(llamavid), "context-mode"))
        throw Error("this llamavid element has no context-mode property (an older plugin?)");
      if (!options.model.empty()) g_object_set(llamavid, "model", options.model.c_str(), nullptr);
      g_object_set(llamavid, "sample-fps",
                   static_cast<double>(options.fps_num) / options.fps_den, "max-new-tokens",
                   options.max_new_tokens, nullptr);
      gst_util_set_object_arg(G_OBJECT(llamavid), "context-mode", mode.c_str());
      link(tee, queue);
      link(queue, llamavid);
      link(llamavid, sink);
    }
    // The model loads at NULL->READY, so a bad one fails here.
    if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      check_bus(bus_);
      throw Error("the evaluation pipeline cannot start");
    }
  } catch (...) {
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_object_unref(bus_);
    gst_object_unref(pipeline_);
    throw;
  }
}

EvalPipeline::~EvalPipeline() {
  gst_element_set_state(pipeline_, GST_STATE_NULL);
  gst_object_unref(bus_);
  gst_object_unref(pipeline_);
}

void EvalPipeline::add_source(GstElement* convert) {
  if (options_.file.empty()) {
    source_ = std::make_unique<FrameSource>(bus_, options_.width, options_.height,
                                            options_.fps_num, options_.fps_den);
    gst_bin_add(GST_BIN(pipeline_), source_->element());
    link(source_->element(), convert);
    return;
  }
  GstElement* file = make_element("filesrc");
  GstElement* decode = make_element("decodebin");
  g_object_set(file, "location", options_.file.c_str(), nullptr);
  gst_bin_add_many(GST_BIN(pipeline_), file, decode, nullptr);
  link(file, decode);
  g_signal_connect(decode, "pad-added", G_CALLBACK(on_decoded_pad), convert);
}

// The file's video stream goes to videoconvert (the files hold nothing else).
void EvalPipeline::on_decoded_pad(GstElement*, GstPad* pad, GstElement* convert) {
  GstPad* sink = gst_element_get_static_pad(convert, "sink");
  if (!gst_pad_is_linked(sink)) gst_pad_link(pad, sink);
  gst_object_unref(sink);
}

void EvalPipeline::push(const cv::Mat& rgb, int64_t pts_ns) {
  if (!source_) throw Error("the evaluation pipeline plays a file: frames cannot be pushed");
  source_->push(rgb, pts_ns);
}

void EvalPipeline::finish() {
  if (source_) source_->end();
  // The element lets EOS go only once every queued frame is encoded, so at EOS on the bus
  // every element has the whole stream in memory.
  wait_eos(bus_);
}

std::vector<std::vector<std::string>> EvalPipeline::ask(
    const std::vector<std::string>& questions) {
  std::vector<std::vector<std::string>> answers(llamavid_.size(),
                                                std::vector<std::string>(questions.size()));
  std::map<std::pair<GstObject*, guint64>, std::pair<size_t, size_t>> pending;  // -> (m, q)
  for (size_t m = 0; m < llamavid_.size(); ++m)
    for (size_t q = 0; q < questions.size(); ++q) {
      guint64 id = 0;
      g_signal_emit_by_name(llamavid_[m], "ask", questions[q].c_str(), &id);
      pending[{GST_OBJECT(llamavid_[m]), id}] = {m, q};
    }
  while (!pending.empty()) {
    GstMessage* msg = gst_bus_timed_pop_filtered(
        bus_, GST_CLOCK_TIME_NONE,
        static_cast<GstMessageType>(GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR));
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
      const std::string text = error_text(msg);
      gst_message_unref(msg);
      throw Error(text);
    }
    const GstStructure* s = gst_message_get_structure(msg);
    const bool answered = gst_structure_has_name(s, "llamavid-answer");
    guint64 id = 0;
    if ((answered || gst_structure_has_name(s, "llamavid-error")) &&
        gst_structure_get_uint64(s, "id", &id)) {
      auto it = pending.find({GST_MESSAGE_SRC(msg), id});
      if (it != pending.end()) {
        const auto [m, q] = it->second;
        if (answered)
          answers[m][q] = string_field(s, "answer");
        else
          std::cerr << "llamavid-eval: " << options_.modes[m] << " mode cannot answer \""
                    << questions[q] << "\": " << string_field(s, "reason") << "\n";
        pending.erase(it);
      }
    }
    gst_message_unref(msg);
  }
  return answers;
}

uint64_t EvalPipeline::memory_frames(size_t m) const {
  guint64 frames = 0;
  g_object_get(llamavid_.at(m), "memory-frames", &frames, nullptr);
  return frames;
}

}  // namespace llamavid::eval
