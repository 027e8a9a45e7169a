#include "gst_elements.h"

#include <filesystem>
#include <system_error>

#include "core/error.h"

namespace llamavid {

namespace {

namespace fs = std::filesystem;

// Whether `path` lies inside the folder `root`.
bool inside(const fs::path& path, const fs::path& root) {
  const fs::path rel = path.lexically_relative(root);
  return !rel.empty() && *rel.begin() != "..";
}

// The plugin file that belongs with the running executable (LLAMAVID_* come from meson).
fs::path own_plugin_file() {
  std::error_code ec;
  const fs::path exe = fs::canonical("/proc/self/exe", ec);
  const fs::path build_root = fs::weakly_canonical(LLAMAVID_BUILD_ROOT, ec);
  if (!exe.empty() && inside(exe, build_root))
    return fs::path(LLAMAVID_BUILD_PLUGIN_DIR) / "libgstllamavid.so";
  return fs::path(LLAMAVID_INSTALLED_PLUGIN_DIR) / "libgstllamavid.so";
}

}  // namespace

GstElement* make_element(const char* factory, const char* name) {
  GstElement* e = gst_element_factory_make(factory, name);
  if (!e) throw Error(std::string("the GStreamer element '") + factory + "' is not installed");
  return e;
}

GstElement* make_llamavid_element(const char* name) {
  GstElementFactory* factory = gst_element_factory_find("llamavid");
  std::string tried;
  if (!factory) {
    const fs::path file = own_plugin_file();
    tried = " nor in " + file.string();
    GError* err = nullptr;
    GstPlugin* plugin = gst_plugin_load_file(file.c_str(), &err);
    if (plugin) gst_object_unref(plugin);
    if (err) {
      tried += " (" + std::string(err->message) + ")";
      g_error_free(err);
    }
    factory = gst_element_factory_find("llamavid");
  }
  if (!factory)
    throw Error("the GStreamer element 'llamavid' is neither installed" + tried +
                "; GST_PLUGIN_PATH may name the folder holding libgstllamavid.so");
  GstElement* e = gst_element_factory_create(factory, name);
  gst_object_unref(factory);
  if (!e) throw Error("the GStreamer element 'llamavid' cannot be created");
  return e;
}

std::string source_to_uri(const std::string& source) {
  if (gst_uri_is_valid(source.c_str())) return source;
  if (!fs::exists(source)) throw Error(source + ": no such file");
  GError* err = nullptr;
  gchar* uri = gst_filename_to_uri(source.c_str(), &err);
  if (!uri) {
    std::string why = err ? err->message : "unknown reason";
    g_clear_error(&err);
    throw Error(source + ": cannot be turned into a URI: " + why);
  }
  std::string out = uri;
  g_free(uri);
  return out;
}

std::string link_decoded_pad(GstElement* pipeline, GstPad* pad, GstElement* convert) {
  GstCaps* caps = gst_pad_get_current_caps(pad);
  if (!caps) caps = gst_pad_query_caps(pad, nullptr);
  bool video = gst_caps_get_size(caps) > 0 &&
               g_str_has_prefix(gst_structure_get_name(gst_caps_get_structure(caps, 0)),
                                "video/x-raw");
  gst_caps_unref(caps);
  GstPad* sink = nullptr;
  if (video) {
    sink = gst_element_get_static_pad(convert, "sink");
    if (gst_pad_is_linked(sink)) video = false;  // only the first video stream is watched
  }
  if (!video) {
    if (sink) gst_object_unref(sink);
    GstElement* drop = gst_element_factory_make("fakesink", nullptr);
    g_object_set(drop, "sync", FALSE, "async", FALSE, nullptr);
    gst_bin_add(GST_BIN(pipeline), drop);
    gst_element_sync_state_with_parent(drop);
    sink = gst_element_get_static_pad(drop, "sink");
  }
  const GstPadLinkReturn r = gst_pad_link(pad, sink);
  gst_object_unref(sink);
  if (r != GST_PAD_LINK_OK)
    return std::string("cannot link a decoded stream (") + gst_pad_link_get_name(r) + ")";
  return "";
}

std::string error_text(GstMessage* error) {
  GError* err = nullptr;
  gchar* debug = nullptr;
  gst_message_parse_error(error, &err, &debug);
  std::string text = GST_IS_PIPELINE(GST_MESSAGE_SRC(error))
                         ? std::string(err->message)
                         : std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(error))) + ": " +
                               err->message;
  if (debug) text += " (" + std::string(debug) + ")";
  g_error_free(err);
  g_free(debug);
  return text;
}

std::string string_field(const GstStructure* s, const char* name) {
  const gchar* v = gst_structure_get_string(s, name);
  return v ? v : "";
}

void add_subtitle_branch(GstElement* pipeline, const std::string& srt_path, GstElement* sink,
                         const char* sink_pad) {
  std::error_code ec;
  if (!fs::is_regular_file(srt_path, ec)) throw Error(srt_path + ": no such subtitle file");
  GstElement* src = make_element("filesrc");
  GstElement* parse = make_element("subparse");
  g_object_set(src, "location", srt_path.c_str(), nullptr);
  gst_bin_add_many(GST_BIN(pipeline), src, parse, nullptr);
  if (!GST_OBJECT_PARENT(sink)) gst_bin_add(GST_BIN(pipeline), sink);
  if (!gst_element_link(src, parse) || !gst_element_link_pads(parse, "src", sink, sink_pad))
    throw Error(srt_path + ": cannot link subparse to the subtitle input");
}

}  // namespace llamavid
