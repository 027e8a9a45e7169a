// GStreamer helpers shared by the tools that run the llamavid element in a pipeline
// (llamavid-ask --video, llamavid-eval, llamavid-monitor): making elements, finding the llamavid
// plugin, sources as URIs, decoded pads, reading bus messages.
#pragma once

#include <string>

#include <gst/gst.h>

namespace llamavid {

// A new element of `factory` (floating ref); Error naming the factory when it is not installed.
GstElement* make_element(const char* factory, const char* name = nullptr);

// A new `llamavid` element. When GStreamer's registry does not know it (no GST_PLUGIN_PATH and
// a prefix outside GStreamer's plugin folder), the plugin built with this tool is loaded: the
// build tree's when the tool runs from the build tree, else the installed one. Error when
// neither can be loaded.
GstElement* make_llamavid_element(const char* name);

// A file path becomes a file:// URI (Error when the file does not exist); a URI passes through.
std::string source_to_uri(const std::string& source);

// Links a pad that uridecodebin exposed in `pipeline`: the first video stream to `convert`'s sink
// pad; any other stream (audio, subtitles, a second video) to a fakesink of its own, so that the
// decoder never stalls on an unlinked pad. Returns what went wrong, empty when linked.
std::string link_decoded_pad(GstElement* pipeline, GstPad* pad, GstElement* convert);

// "element: message (debug)" of an ERROR message; errors posted by a pipeline itself (a tool's
// own) leave the source name out.
std::string error_text(GstMessage* error);

// Adds `filesrc location=srt_path ! subparse` to `pipeline` and links subparse to `sink_pad` of
// `sink` (an element already in the pipeline, or added with it when not). Error when the file is
// missing or the elements cannot be made or linked.
void add_subtitle_branch(GstElement* pipeline, const std::string& srt_path, GstElement* sink,
                         const char* sink_pad);

// A string field of a message structure; "" when absent.
std::string string_field(const GstStructure* s, const char* name);

}  // namespace llamavid
