// The llamavid plugin (libgstllamavid.so): one element, llamavid.
#include <gst/gst.h>

#include "gstllamavid.h"

static gboolean plugin_init(GstPlugin* plugin) { return GST_ELEMENT_REGISTER(llamavid, plugin); }

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, llamavid,
                  "Video question answering with LLaMA-VID", plugin_init, LLAMAVID_VERSION,
                  "MIT/X11", "llamavid", "llamavid")
