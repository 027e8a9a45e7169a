#include "stream_file.h"

#include "core/error.h"
#include "gst_elements.h"

namespace llamavid::eval {

namespace {

struct FormatInfo {
  const char* encoder;
  const char* muxer;
  const char* name;
  const char* extension;
};

// In FileFormat's order.
constexpr FormatInfo kFormats[kFileFormats] = {
    {"x264enc", "mp4mux", "x264enc/mp4mux", "mp4"},
    {"vp8enc", "webmmux", "vp8enc/webmmux", "webm"},
    {"jpegenc", "avimux", "jpegenc/avimux", "avi"},
    {"x264enc", "matroskamux", "x264enc/matroskamux", "mkv"},
};

const FormatInfo& info(FileFormat format) { return kFormats[static_cast<int>(format)]; }

}  // namespace

const char* file_format_name(FileFormat format) { return info(format).name; }

const char* file_extension(FileFormat format) { return info(format).extension; }

StreamFileWriter::StreamFileWriter(const std::string& path, FileFormat format, int width,
                                   int height, int fps_num, int fps_den) {
  if (!gst_is_initialized()) gst_init(nullptr, nullptr);
  pipeline_ = gst_pipeline_new("llamavid-eval-file");
  bus_ = gst_element_get_bus(pipeline_);
  try {
    source_ = std::make_unique<FrameSource>(bus_, width, height, fps_num, fps_den);
    GstElement* convert = make_element("videoconvert");
    GstElement* encoder = make_element(info(format).encoder);
    GstElement* muxer = make_element(info(format).muxer);
    GstElement* sink = make_element("filesink");
    // Fast settings: the files are many hours of low-rate test patterns.
    if (format == FileFormat::Mp4H264 || format == FileFormat::MkvH264)
      gst_util_set_object_arg(G_OBJECT(encoder), "speed-preset", "ultrafast");
    if (format == FileFormat::WebmVp8) g_object_set(encoder, "deadline", gint64{1}, nullptr);
    g_object_set(sink, "location", path.c_str(), nullptr);
    gst_bin_add_many(GST_BIN(pipeline_), source_->element(), convert, encoder, muxer, sink,
                     nullptr);
    if (!gst_element_link_many(source_->element(), convert, encoder, muxer, sink, nullptr))
      throw Error(std::string("cannot link the ") + file_format_name(format) + " writer");
    if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      check_bus(bus_);
      throw Error(path + ": the writing pipeline cannot start");
    }
  } catch (...) {
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_object_unref(bus_);
    gst_object_unref(pipeline_);
    throw;
  }
}

StreamFileWriter::~StreamFileWriter() {
  gst_element_set_state(pipeline_, GST_STATE_NULL);
  gst_object_unref(bus_);
  gst_object_unref(pipeline_);
}

void StreamFileWriter::finish() {
  source_->end();
  wait_eos(bus_);
}

}  // namespace llamavid::eval
