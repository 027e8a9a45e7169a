// The llamavid element: answers questions about everything a video stream has shown.
// gstllamavid.cpp documents its pads, signals and messages; settings.cpp its properties.
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_LLAMAVID (gst_llamavid_get_type())
G_DECLARE_FINAL_TYPE(GstLlamavid, gst_llamavid, GST, LLAMAVID, GstElement)

GST_ELEMENT_REGISTER_DECLARE(llamavid);

G_END_DECLS
